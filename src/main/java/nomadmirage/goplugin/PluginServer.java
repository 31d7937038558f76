package nomadmirage.goplugin;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import nomadmirage.log.Logger;

/**
 * The gRPC server a go-plugin host connects to: a unix socket in a private
 * directory, the health service reporting "plugin" as SERVING, and go-plugin's
 * controller, stdio and broker services next to the application's own.
 *
 * <p>There is no TCP fallback: a plugin on 127.0.0.1 could be called by every
 * local user (SetConfig, then StartTask as root). When the socket cannot be
 * served — Netty's native epoll library did not load, or the socket path is
 * too long — {@link #start} fails with what to fix.
 */
public final class PluginServer {
    /** The health service name go-plugin's host checks. */
    public static final String HEALTH_SERVICE = "plugin";
    /** sun_path holds 108 bytes including the terminating NUL. */
    static final int MAX_SOCKET_PATH_BYTES = 107;
    /**
     * The largest inbound message: what go-plugin's Go servers accept (grpc-go's default), so no
     * more than Nomad can send to any of its external drivers. Decoding a request costs a few times
     * its size ({@link FieldBudget} bounds the rest) and the heap is 160 MiB.
     */
    static final int MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

    private final Server server;
    private final ListenAddress address;
    private final Path socketDir;
    private final EventLoopGroup eventLoops;
    private final ExecutorService executor;
    private final HealthStatusManager health;
    private final StdioService stdio;
    private final BrokerService broker;
    private final Logger log;
    private final java.util.concurrent.atomic.AtomicBoolean stopping = new java.util.concurrent.atomic.AtomicBoolean();
    private final java.util.concurrent.CountDownLatch stopped = new java.util.concurrent.CountDownLatch(1);

    private PluginServer(Server server, ListenAddress address, Path socketDir, EventLoopGroup eventLoops,
            ExecutorService executor, HealthStatusManager health, StdioService stdio, BrokerService broker,
            Logger log) {
        this.server = server;
        this.address = address;
        this.socketDir = socketDir;
        this.eventLoops = eventLoops;
        this.executor = executor;
        this.health = health;
        this.stdio = stdio;
        this.broker = broker;
        this.log = log;
    }

    /**
     * Binds and starts serving. {@code onShutdownRequest} runs when the host calls
     * GRPCController.Shutdown, before the server stops.
     */
    public static PluginServer start(HostEnvironment env, List<BindableService> services,
            Runnable onShutdownRequest, Logger log) throws ServeException, IOException {
        NativeTransport.requireEpoll();
        EventLoopGroup loops = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        ExecutorService executor = Executors.newThreadPerTaskExecutor(
                Thread.ofVirtual().name("grpc-", 0).factory());
        HealthStatusManager health = new HealthStatusManager();
        StdioService stdio = new StdioService();
        BrokerService broker = new BrokerService();
        PluginServer[] self = new PluginServer[1];
        ControllerService controller = new ControllerService(() -> {
            onShutdownRequest.run();
            self[0].shutdown(Duration.ofMillis(500));
        });
        try {
            Bound bound = bindUnix(env, loops, executor, health, stdio, broker, controller, services, log);
            health.setStatus(HEALTH_SERVICE, io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
            self[0] = new PluginServer(bound.server, bound.address, bound.socketDir, loops, executor, health, stdio,
                    broker, log);
            return self[0];
        } catch (ServeException | IOException | RuntimeException e) {
            loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            executor.shutdownNow();
            throw e;
        }
    }

    private record Bound(Server server, ListenAddress address, Path socketDir) {
    }

    private static NettyServerBuilder builder(java.net.SocketAddress at, EventLoopGroup loops,
            Class<? extends ServerChannel> channel, ExecutorService executor, HealthStatusManager health,
            StdioService stdio, BrokerService broker, ControllerService controller,
            List<BindableService> services, Logger log) {
        NettyServerBuilder builder = NettyServerBuilder.forAddress(at)
                .bossEventLoopGroup(loops)
                .workerEventLoopGroup(loops)
                .channelType(channel)
                .executor(executor)
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .permitKeepAliveWithoutCalls(true)
                .permitKeepAliveTime(5, TimeUnit.SECONDS)
                .addService(FieldBudget.bound(health.getHealthService().bindService(), log))
                .addService(FieldBudget.bound(controller.bindService(), log))
                .addService(FieldBudget.bound(stdio.bindService(), log))
                .addService(FieldBudget.bound(broker.bindService(), log));
        services.forEach(service -> builder.addService(FieldBudget.bound(service.bindService(), log)));
        return builder;
    }

    private static Bound bindUnix(HostEnvironment env, EventLoopGroup loops, ExecutorService executor,
            HealthStatusManager health, StdioService stdio, BrokerService broker, ControllerService controller,
            List<BindableService> services, Logger log) throws ServeException, IOException {
        Files.createDirectories(env.unixSocketDir());
        Path dir = Files.createTempDirectory(env.unixSocketDir(), StaleSocketDirs.PREFIX,
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x---")));
        removeStaleSocketDirs(env.unixSocketDir(), dir, log);
        Path socket = dir.resolve(StaleSocketDirs.SOCKET);
        int length = socket.toString().getBytes(StandardCharsets.UTF_8).length;
        if (length > MAX_SOCKET_PATH_BYTES) {
            Files.deleteIfExists(dir);
            throw new ServeException("the unix socket path " + socket + " is " + length + " bytes, longer than the "
                    + MAX_SOCKET_PATH_BYTES + " bytes a unix socket address holds; the socket directory comes from "
                    + "PLUGIN_UNIX_SOCKET_DIR, else TMPDIR (now " + env.unixSocketDir() + "): set it to a shorter "
                    + "path. The plugin never falls back to TCP, which any local user could reach");
        }
        Server server = builder(new DomainSocketAddress(socket.toString()), loops,
                EpollServerDomainSocketChannel.class, executor, health, stdio, broker, controller, services, log).build();
        server.start();
        restrict(socket, dir, env.unixSocketGroup());
        return new Bound(server, ListenAddress.unix(socket.toString()), dir);
    }

    /**
     * Removes what plugins that died without cleaning up (SIGKILL) left next to
     * {@code ours}; our new directory tells the uid they must be owned by.
     */
    private static void removeStaleSocketDirs(Path base, Path ours, Logger log) {
        try {
            List<Path> removed = StaleSocketDirs.remove(base, Files.getOwner(ours, LinkOption.NOFOLLOW_LINKS),
                    ours.getFileName().toString(), StaleSocketDirs.MIN_AGE);
            for (Path path : removed) {
                log.info("removed the socket directory of a plugin that is gone", "path", path);
            }
        } catch (IOException | RuntimeException e) {
            log.debug("could not look for stale socket directories", "path", base, "error", e);
        }
    }

    private static void restrict(Path socket, Path dir, String group) throws IOException {
        if (group == null) {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            return;
        }
        GroupPrincipal principal = socket.getFileSystem().getUserPrincipalLookupService()
                .lookupPrincipalByGroupName(group);
        for (Path p : List.of(dir, socket)) {
            Files.getFileAttributeView(p, PosixFileAttributeView.class).setGroup(principal);
        }
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x---"));
        Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
    }

    public ListenAddress address() {
        return address;
    }

    /** Stops accepting calls, lets running ones finish within {@code grace}, then cancels the rest. */
    public void shutdown(Duration grace) {
        if (!stopping.compareAndSet(false, true)) {
            // Another caller is stopping: wait for it, so the process does not exit before the socket directory is gone.
            try {
                stopped.await(grace.toMillis() + 5000, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return;
        }
        health.enterTerminalState();
        stdio.closeAll();
        broker.closeAll();
        server.shutdown();
        try {
            if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                server.shutdownNow();
                server.awaitTermination(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        // The event loops finish their last writes before the executor they hand work to goes away.
        eventLoops.shutdownGracefully(0, 200, TimeUnit.MILLISECONDS).awaitUninterruptibly(2, TimeUnit.SECONDS);
        executor.shutdownNow();
        if (socketDir != null) {
            try {
                Files.deleteIfExists(socketDir.resolve(StaleSocketDirs.SOCKET));
                Files.deleteIfExists(socketDir);
            } catch (IOException e) {
                log.warn("could not remove the plugin socket directory", "path", socketDir, "error", e);
            }
        }
        stopped.countDown();
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }
}
