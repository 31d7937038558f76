package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import nomadmirage.proto.base.BasePluginGrpc;
import nomadmirage.proto.base.SetConfigRequest;

/**
 * The plugin started directly, the way go-plugin's host starts it (cookie in
 * the environment, pipes on stdout and stderr), for tests of the process
 * contract itself.
 */
public final class LaunchedPlugin implements AutoCloseable {
    public static final String COOKIE_KEY = "NOMAD_PLUGIN_MAGIC_COOKIE";
    public static final String COOKIE = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255";

    public final Process process;
    public final BufferedReader stdout;
    public final String handshakeLine;
    /** The plugin's TMPDIR when the caller gave it no socket directory; removed by {@link #close()}. */
    private final ScratchDir scratch;

    private LaunchedPlugin(Process process, BufferedReader stdout, String handshakeLine, ScratchDir scratch) {
        this.process = process;
        this.stdout = stdout;
        this.handshakeLine = handshakeLine;
        this.scratch = scratch;
    }

    /**
     * Starts the plugin with the cookie plus {@code extraEnv} and waits for its first stdout line. Without
     * TMPDIR or PLUGIN_UNIX_SOCKET_DIR in {@code extraEnv} the plugin gets a TMPDIR that {@link #close()} removes.
     */
    public static LaunchedPlugin start(Map<String, String> extraEnv) throws Exception {
        return start(TestEnv.launcher(), extraEnv);
    }

    /** As {@link #start(Map)}, running {@code launcher} (e.g. a wrapper of the real one). */
    public static LaunchedPlugin start(java.nio.file.Path launcher, Map<String, String> extraEnv) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(List.of(launcher.toString()));
        builder.environment().put(COOKIE_KEY, COOKIE);
        builder.environment().put("PLUGIN_PROTOCOL_VERSIONS", "2");
        ScratchDir scratch = null;
        if (!extraEnv.containsKey("TMPDIR") && !extraEnv.containsKey("PLUGIN_UNIX_SOCKET_DIR")) {
            scratch = ScratchDir.create("mirage-launched-");
            builder.environment().put("TMPDIR", scratch.toString());
        }
        builder.environment().putAll(extraEnv);
        builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process process = null;
        try {
            process = builder.start();
            BufferedReader stdout = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            String line = CompletableFuture.supplyAsync(() -> {
                try {
                    return stdout.readLine();
                } catch (IOException e) {
                    return null;
                }
            }).get(60, TimeUnit.SECONDS);
            assertNotNull(line, "plugin exited before printing its handshake line");
            return new LaunchedPlugin(process, stdout, line, scratch);
        } catch (Exception | Error e) {
            stop(process);
            if (scratch != null) {
                scratch.close();
            }
            throw e;
        }
    }

    public String network() {
        return handshakeLine.split("\\|")[2];
    }

    public String address() {
        return handshakeLine.split("\\|")[3];
    }

    /** Asks the gRPC health service for go-plugin's "plugin" service. */
    public HealthCheckResponse.ServingStatus health() throws InterruptedException {
        return withChannel(channel -> HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.newBuilder().setService("plugin").build()).getStatus());
    }

    /** Calls BasePlugin.SetConfig with raw msgpack bytes; the gRPC status code it answered. */
    public Status.Code setConfig(byte[] msgpack) throws InterruptedException {
        return withChannel(channel -> {
            try {
                BasePluginGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .setConfig(SetConfigRequest.newBuilder().setMsgpackConfig(ByteString.copyFrom(msgpack)).build());
                return Status.Code.OK;
            } catch (StatusRuntimeException e) {
                return e.getStatus().getCode();
            }
        });
    }

    /** Calls Driver.StartTask with {@code request}; the gRPC status code it answered. */
    public Status.Code startTask(nomadmirage.proto.drivers.StartTaskRequest request) throws InterruptedException {
        return withChannel(channel -> {
            try {
                nomadmirage.proto.drivers.DriverGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                        .startTask(request);
                return Status.Code.OK;
            } catch (StatusRuntimeException e) {
                return e.getStatus().getCode();
            }
        });
    }

    private <T> T withChannel(java.util.function.Function<ManagedChannel, T> call) throws InterruptedException {
        if (!network().equals("unix")) {
            throw new AssertionError("the plugin serves on a unix socket only: " + handshakeLine);
        }
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        // gRPC asks every client channel for SO_KEEPALIVE, which a unix socket does not have, and Netty
        // warns about that on each connection; a null value drops the option (gRPC's keepalive pings,
        // HTTP/2 level, are unaffected).
        NettyChannelBuilder builder = NettyChannelBuilder.forAddress(new DomainSocketAddress(address()))
                .channelType(EpollDomainSocketChannel.class)
                .withOption(ChannelOption.SO_KEEPALIVE, null);
        ManagedChannel channel = builder.eventLoopGroup(group).usePlaintext().build();
        try {
            return call.apply(channel);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
        }
    }

    /** SIGTERM, then SIGKILL after 10 s; removes the TMPDIR this class made (with a killed plugin's socket). */
    @Override
    public void close() throws InterruptedException, IOException {
        stop(process);
        if (scratch != null) {
            scratch.close();
        }
    }

    private static void stop(Process process) throws InterruptedException {
        if (process == null) {
            return;
        }
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
