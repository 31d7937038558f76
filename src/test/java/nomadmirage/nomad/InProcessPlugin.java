package nomadmirage.nomad;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.StatusProto;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import nomadmirage.driver.Fingerprinter;
import nomadmirage.driver.LaunchPlanner;
import nomadmirage.driver.MirageDriver;
import nomadmirage.driver.NodeCompute;
import nomadmirage.driver.TaskEventBus;
import nomadmirage.driver.TaskHandle;
import nomadmirage.driver.TaskId;
import nomadmirage.driver.TaskManager;
import nomadmirage.driver.harness.FakeHost;
import nomadmirage.driver.harness.FakeNetworks;
import nomadmirage.driver.harness.FakeSupervisor;
import nomadmirage.driver.harness.FakeUsers;
import nomadmirage.driver.harness.FakeCgroups;
import nomadmirage.driver.harness.Journal;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.proto.base.BasePluginGrpc;
import nomadmirage.proto.base.SetConfigRequest;
import nomadmirage.proto.drivers.DestroyTaskRequest;
import nomadmirage.proto.drivers.DriverGrpc;
import nomadmirage.proto.drivers.InspectTaskRequest;
import nomadmirage.proto.drivers.InspectTaskResponse;
import nomadmirage.proto.drivers.RecoverTaskRequest;
import nomadmirage.proto.drivers.SignalTaskRequest;
import nomadmirage.proto.drivers.StartTaskRequest;
import nomadmirage.proto.drivers.StartTaskResponse;
import nomadmirage.proto.drivers.StopTaskRequest;
import nomadmirage.proto.structs.RecoverableError;

/**
 * The plugin as Nomad sees it, in process and without root: the real BasePlugin and Driver gRPC
 * services over the real {@link MirageDriver} and {@link TaskManager}, on a fake node (supervisor,
 * networks, users, host inspector from {@code driver.harness}) with a real state directory in a
 * temp dir. The node outlives plugin instances: {@link #restartPlugin()} builds a fresh driver
 * over the same node and state directory, as when Nomad restarts the plugin.
 */
final class InProcessPlugin implements AutoCloseable {
    static final long DEADLINE_SECONDS = 30;

    @FunctionalInterface
    interface Call {
        void run() throws Exception;
    }

    /** How a StartTask failed: its status code, message and Nomad's recoverable flag (null when absent). */
    record StartFailure(Status.Code code, String message, Boolean recoverable) {
    }

    final Path stateDir;
    final Path allocs;
    final Journal journal = new Journal();
    final FakeSupervisor supervisor = new FakeSupervisor(journal);
    final FakeNetworks networks = new FakeNetworks(journal);
    final FakeUsers users = new FakeUsers(journal);
    final FakeCgroups cgroups = new FakeCgroups(journal);
    final FakeHost host = new FakeHost();
    private final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    private final LogSink sink = new LogSink(logBytes);
    private final Map<String, Object> extraConfig = new LinkedHashMap<>();
    private Instance plugin;

    /** One plugin process: what Nomad would lose on a plugin restart. */
    private record Instance(MirageDriver driver, DriverService service, Server server, ManagedChannel channel) {
        void close() throws InterruptedException {
            channel.shutdownNow();
            server.shutdownNow();
            driver.close();
            channel.awaitTermination(5, TimeUnit.SECONDS);
            server.awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    InProcessPlugin(Path root) {
        this.stateDir = root.resolve("state");
        this.allocs = root.resolve("allocs");
        try {
            Files.createDirectories(allocs);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.plugin = startPlugin();
    }

    private Instance startPlugin() {
        Logger log = Logger.root("mirage", sink, LogLevel.DEBUG);
        MirageDriver driver = new MirageDriver(
                new Fingerprinter(host, (argv, timeout) -> {
                    throw new IOException("the harness runs no commands");
                }, "harness"),
                config -> new TaskManager(config, new LaunchPlanner(host), users, supervisor, new TaskEventBus(),
                        networks, cgroups, log.named("tasks")),
                log.named("driver"));
        DriverService service = new DriverService(driver, new NodeCompute(2000, 2), log.named("grpc"));
        String name = "mirage-harness-" + UUID.randomUUID();
        Server server;
        try {
            server = InProcessServerBuilder.forName(name)
                    .addService(new BasePluginService(driver, "harness", log.named("grpc")))
                    .addService(service)
                    .build()
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
        sendConfig(channel);
        return new Instance(driver, service, server, channel);
    }

    /** Sends SetConfig again with {@code extra} on top of the harness's own settings (kept for restarts). */
    void configure(Map<String, Object> extra) {
        extraConfig.putAll(extra);
        sendConfig(plugin.channel());
    }

    private void sendConfig(ManagedChannel channel) {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("state_dir", stateDir.toString());
        config.put("log_level", "debug");
        // No reconcile during a test unless the test runs one.
        config.put("reconcile_delay", "1h");
        // A user the fake directory resolves; tests of per-task uids leave it out.
        config.put("default_user", "nobody");
        config.putAll(extraConfig);
        BasePluginGrpc.newBlockingStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
                .setConfig(SetConfigRequest.newBuilder()
                        .setPluginApiVersion("0.1.0")
                        .setMsgpackConfig(ByteString.copyFrom(TestMsgpack.encode(config)))
                        .build());
    }

    /** A fresh plugin process over the same node: tenders, networks and the state directory survive, tracked tasks do not. */
    void restartPlugin() {
        try {
            plugin.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        plugin = startPlugin();
    }

    TaskFixture task(String id) {
        return new TaskFixture(id, allocs, stateDir);
    }

    DriverGrpc.DriverBlockingStub rpc() {
        return DriverGrpc.newBlockingStub(plugin.channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS);
    }

    DriverGrpc.DriverFutureStub futures() {
        return DriverGrpc.newFutureStub(plugin.channel);
    }

    DriverGrpc.DriverStub async() {
        return DriverGrpc.newStub(plugin.channel);
    }

    MirageDriver driver() {
        return plugin.driver;
    }

    TaskManager tasks() {
        return plugin.driver.tasks();
    }

    DriverService service() {
        return plugin.service;
    }

    TaskHandle handle(String id) {
        return tasks().find(new TaskId(id)).orElseThrow(() -> new AssertionError("task " + id + " is not tracked"));
    }

    boolean tracked(String id) {
        return tasks().find(new TaskId(id)).isPresent();
    }

    // --- calls as Nomad makes them ---

    StartTaskResponse start(TaskFixture task) {
        return rpc().startTask(StartTaskRequest.newBuilder().setTask(task.proto()).build());
    }

    StartFailure startFailure(TaskFixture task) {
        try {
            start(task);
        } catch (StatusRuntimeException e) {
            return startFailureOf(e);
        }
        throw new AssertionError("StartTask of " + task.id + " succeeded");
    }

    /** Reads Nomad's RecoverableError back from a StartTask failure, as Nomad's plugin client does. */
    StartFailure startFailureOf(StatusRuntimeException e) {
        {
            com.google.rpc.Status status = StatusProto.fromThrowable(e);
            Boolean recoverable = null;
            if (status != null && status.getDetailsCount() > 0) {
                Any detail = status.getDetails(0);
                try {
                    recoverable = detail.unpack(RecoverableError.class).getRecoverable();
                } catch (InvalidProtocolBufferException bad) {
                    throw new AssertionError("details[0] is not a RecoverableError: " + detail.getTypeUrl(), bad);
                }
            }
            return new StartFailure(e.getStatus().getCode(), e.getStatus().getDescription(), recoverable);
        }
    }

    void recover(StartTaskResponse started) {
        rpc().recoverTask(RecoverTaskRequest.newBuilder().setTaskId(started.getHandle().getConfig().getId())
                .setHandle(started.getHandle()).build());
    }

    void stop(String id, Duration timeout, String signal) {
        rpc().stopTask(StopTaskRequest.newBuilder().setTaskId(id)
                .setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(timeout.toSeconds())
                        .setNanos(timeout.toNanosPart()))
                .setSignal(signal).build());
    }

    void destroy(String id, boolean force) {
        rpc().destroyTask(DestroyTaskRequest.newBuilder().setTaskId(id).setForce(force).build());
    }

    void signal(String id, String signal) {
        rpc().signalTask(SignalTaskRequest.newBuilder().setTaskId(id).setSignal(signal).build());
    }

    InspectTaskResponse inspect(String id) {
        return rpc().inspectTask(InspectTaskRequest.newBuilder().setTaskId(id).build());
    }

    /** The status code a call answered with (OK when it returned). */
    static Status.Code code(Call call) {
        try {
            call.run();
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        } catch (Exception e) {
            throw new AssertionError("not a gRPC failure", e);
        }
    }

    static StatusRuntimeException failure(Call call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            return e;
        } catch (Exception e) {
            throw new AssertionError("not a gRPC failure", e);
        }
        throw new AssertionError("the call succeeded");
    }

    /** Waits until the driver has seen the task's tender end. */
    void awaitExitSeen(String id) {
        TaskHandle handle = handle(id);
        awaitTrue("the driver to see task " + id + " exit", () -> handle.outcome().isDone());
    }

    static void awaitTrue(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
    }

    /** What the plugin logged so far (hclog JSON lines), for failure messages. */
    String logs() {
        sink.flush(1000);
        synchronized (logBytes) {
            return logBytes.toString(StandardCharsets.UTF_8);
        }
    }

    @Override
    public void close() {
        try {
            plugin.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            supervisor.vanishAll();
            sink.close();
        }
    }
}
