package nomadmirage.release;

import com.google.protobuf.ByteString;
import com.google.protobuf.Duration;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.cgroup.CgroupTree;
import nomadmirage.nomad.TestMsgpack;
import nomadmirage.proto.base.BasePluginGrpc;
import nomadmirage.proto.base.ConfigSchemaRequest;
import nomadmirage.proto.base.PluginInfoRequest;
import nomadmirage.proto.base.SetConfigRequest;
import nomadmirage.proto.drivers.AllocatedCpuResources;
import nomadmirage.proto.drivers.AllocatedMemoryResources;
import nomadmirage.proto.drivers.AllocatedTaskResources;
import nomadmirage.proto.drivers.CapabilitiesRequest;
import nomadmirage.proto.drivers.DestroyTaskRequest;
import nomadmirage.proto.drivers.DriverGrpc;
import nomadmirage.proto.drivers.DriverTaskEvent;
import nomadmirage.proto.drivers.FingerprintRequest;
import nomadmirage.proto.drivers.FingerprintResponse;
import nomadmirage.proto.drivers.InspectTaskRequest;
import nomadmirage.proto.drivers.LinuxResources;
import nomadmirage.proto.drivers.Resources;
import nomadmirage.proto.drivers.StartTaskRequest;
import nomadmirage.proto.drivers.StartTaskResponse;
import nomadmirage.proto.drivers.StopTaskRequest;
import nomadmirage.proto.drivers.TaskConfig;
import nomadmirage.proto.drivers.TaskConfigSchemaRequest;
import nomadmirage.proto.drivers.TaskEventsRequest;
import nomadmirage.proto.drivers.TaskStatsRequest;
import nomadmirage.proto.drivers.TaskStatsResponse;
import nomadmirage.proto.drivers.WaitTaskRequest;
import nomadmirage.solo5.AbiTarget;
import nomadmirage.solo5.TestElf;

/**
 * The training run of the release's ahead-of-time cache (called by scripts/assemble-launcher.sh): runs the
 * plugin through its launcher, whose environment asks the JVM for the cache, and drives it over its own
 * socket as Nomad's client does: plugin info, schemas, SetConfig, the fingerprint and event streams, then
 * {@code --cycles} tasks through StartTask, InspectTask, TaskStats, StopTask or a tender that exits by
 * itself, WaitTask and DestroyTask, plus starts the driver refuses. Then SIGTERM: the JVM writes the cache
 * as it exits. The cache so holds the classes of the start path and which of its methods the JIT compiled,
 * so a fresh plugin compiles them at their first call instead of interpreting its first hundred starts.
 *
 * <p>Tasks run spt (and hvt where /dev/kvm is usable) unikernels without devices under a stand-in tender
 * script, as the dynamic users the plugin gives out, in cgroups under a parent of their own that is removed
 * afterwards. No network is made: the networked path compiles at the plugin's lowered thresholds.
 *
 * <p>Usage: {@code AotTraining LAUNCHER WORK_DIR CYCLES}; WORK_DIR (made by the caller, removed by it) holds
 * everything the run writes. Exit status 0 when the plugin ran every cycle and exited.
 */
public final class AotTraining {
    private static final String COOKIE_KEY = "NOMAD_PLUGIN_MAGIC_COOKIE";
    private static final String COOKIE = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255";
    private static final Path KVM = Path.of("/dev/kvm");
    private static final String SELF_EXIT = "--training-exit";
    /** The stand-in tender: answers --version as Solo5's do; exits at once when asked, else waits to be stopped. */
    private static final String TENDER = """
            #!/bin/sh
            # Stand-in tender of the plugin's AOT training run (not Solo5).
            case "$1" in
              --version) echo "$(basename "$0") tender, version v0.12.1-aot-training" >&2; echo "ABI version 2" >&2; exit 0 ;;
            esac
            echo "training tender: $*"
            case " $* " in *" %s "*) exit 0 ;; esac
            exec sleep 600
            """.formatted(SELF_EXIT);

    private final Path launcher;
    private final Path work;
    private final int cycles;
    private final String cgroupParent = "mirage-aot-training-" + ProcessHandle.current().pid();
    /** Tasks started and not destroyed yet: a run that fails midway destroys them before the plugin goes. */
    private final List<String> live = new ArrayList<>();

    private AotTraining(Path launcher, Path work, int cycles) {
        this.launcher = launcher;
        this.work = work;
        this.cycles = cycles;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: AotTraining LAUNCHER WORK_DIR CYCLES");
            System.exit(2);
        }
        AotTraining training = new AotTraining(Path.of(args[0]), Path.of(args[1]), Integer.parseInt(args[2]));
        try {
            training.run();
        } finally {
            training.removeCgroupParent();
        }
    }

    private void run() throws Exception {
        Path bin = Files.createDirectories(work.resolve("bin"));
        for (String name : List.of("solo5-spt", "solo5-hvt")) {
            Files.writeString(bin.resolve(name), TENDER);
            Files.setPosixFilePermissions(bin.resolve(name), PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Files.createDirectories(work.resolve("tmp"));
        openToAll(work);
        boolean hvt = Files.isReadable(KVM) && Files.isWritable(KVM);

        ProcessBuilder builder = new ProcessBuilder(launcher.toString());
        builder.environment().put(COOKIE_KEY, COOKIE);
        builder.environment().put("PLUGIN_PROTOCOL_VERSIONS", "2");
        builder.environment().put("TMPDIR", work.resolve("tmp").toString());
        builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        builder.redirectError(work.resolve("plugin.stderr").toFile());
        Process plugin = builder.start();
        try {
            String address = handshakeAddress(plugin);
            EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(address))
                    .channelType(EpollDomainSocketChannel.class)
                    .withOption(ChannelOption.SO_KEEPALIVE, null)
                    .eventLoopGroup(group).usePlaintext().build();
            try {
                train(channel, bin, hvt);
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                group.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            }
            plugin.destroy();
            // The JVM writes the cache as it exits, which takes a few seconds.
            if (!plugin.waitFor(300, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the plugin did not exit within 300 s of SIGTERM");
            }
            System.err.println("AOT training: " + cycles + " task cycles (" + (hvt ? "hvt and spt" : "spt only: no usable /dev/kvm")
                    + "), plugin exit status " + plugin.exitValue());
        } finally {
            if (plugin.isAlive()) {
                plugin.destroyForcibly();
                plugin.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    private static String handshakeAddress(Process plugin) throws Exception {
        BufferedReader stdout = new BufferedReader(new InputStreamReader(plugin.getInputStream(), StandardCharsets.UTF_8));
        String line = CompletableFuture.supplyAsync(() -> {
            try {
                return stdout.readLine();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }).get(120, TimeUnit.SECONDS);
        String[] fields = line == null ? new String[0] : line.split("\\|");
        if (fields.length < 5 || !fields[2].equals("unix")) {
            throw new IllegalStateException("unexpected handshake line from the plugin: " + line);
        }
        return fields[3];
    }

    private void train(ManagedChannel channel, Path bin, boolean hvt) throws Exception {
        BasePluginGrpc.BasePluginBlockingStub base = BasePluginGrpc.newBlockingStub(channel);
        base.pluginInfo(PluginInfoRequest.getDefaultInstance());
        base.configSchema(ConfigSchemaRequest.getDefaultInstance());
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("state_dir", work.resolve("state").toString());
        config.put("solo5_spt", bin.resolve("solo5-spt").toString());
        config.put("solo5_hvt", bin.resolve("solo5-hvt").toString());
        config.put("qemu", bin.resolve("no-qemu").toString());
        config.put("cgroup_parent", cgroupParent);
        long low = ThreadLocalRandom.current().nextLong(100_000, 2_000_000_000L);
        config.put("dynamic_user_min", low);
        config.put("dynamic_user_max", low + 999);
        base.setConfig(SetConfigRequest.newBuilder().setMsgpackConfig(ByteString.copyFrom(TestMsgpack.encode(config))).build());

        DriverGrpc.DriverBlockingStub driver = DriverGrpc.newBlockingStub(channel);
        DriverGrpc.DriverStub async = DriverGrpc.newStub(channel);
        driver.taskConfigSchema(TaskConfigSchemaRequest.getDefaultInstance());
        driver.capabilities(CapabilitiesRequest.getDefaultInstance());
        CompletableFuture<FingerprintResponse> fingerprint = new CompletableFuture<>();
        Context.CancellableContext streams = Context.current().withCancellation();
        try {
            streams.run(() -> {
                async.fingerprint(FingerprintRequest.getDefaultInstance(), new Ignoring<>(fingerprint));
                async.taskEvents(TaskEventsRequest.getDefaultInstance(), new Ignoring<DriverTaskEvent>(null));
            });
            fingerprint.get(60, TimeUnit.SECONDS);
            for (int i = 0; i < cycles; i++) {
                AbiTarget target = hvt && i % 2 == 0 ? AbiTarget.HVT : AbiTarget.SPT;
                cycle(driver, i, target);
                if (i % 10 == 0) {
                    refusedStart(driver, i);
                }
            }
        } finally {
            for (String taskId : List.copyOf(live)) {
                try {
                    driver.withDeadlineAfter(60, TimeUnit.SECONDS)
                            .destroyTask(DestroyTaskRequest.newBuilder().setTaskId(taskId).setForce(true).build());
                } catch (StatusRuntimeException e) {
                    System.err.println("AOT training: task " + taskId + " not destroyed: " + e.getStatus());
                }
            }
            streams.cancel(null);
        }
    }

    /** One task's life: started, looked at, stopped or ended by itself, waited for, destroyed. */
    private void cycle(DriverGrpc.DriverBlockingStub driver, int i, AbiTarget target) throws IOException {
        String ext = target == AbiTarget.HVT ? "hvt" : "spt";
        Path alloc = work.resolve("allocs").resolve("a" + i);
        Path local = Files.createDirectories(alloc.resolve("t/local"));
        Path logs = Files.createDirectories(alloc.resolve("alloc/logs"));
        Files.write(local.resolve("app." + ext), TestElf.withoutDevices(target));
        Files.createFile(logs.resolve("t.stdout"));
        Files.createFile(logs.resolve("t.stderr"));
        openToAll(alloc);
        boolean selfExit = i % 2 == 1;
        List<String> args = new ArrayList<>(List.of("--solo5:quiet"));
        if (selfExit) {
            args.add(SELF_EXIT);
        }
        Map<String, Object> taskConfig = new LinkedHashMap<>();
        taskConfig.put("unikernel", "local/app." + ext);
        taskConfig.put("args", args);
        String taskId = String.format("%08x-0000-4000-8000-%012x/t/%08x", i, i, i);
        TaskConfig task = TaskConfig.newBuilder()
                .setId(taskId).setName("t").setAllocId(String.format("%08x-0000-4000-8000-%012x", i, i))
                .setJobName("aot-training").setJobId("aot-training").setTaskGroupName("g").setNamespace("default")
                .setAllocDir(alloc.toString())
                .setStdoutPath(logs.resolve("t.stdout").toString()).setStderrPath(logs.resolve("t.stderr").toString())
                .putEnv("NOMAD_TASK_NAME", "t")
                .setResources(Resources.newBuilder()
                        .setAllocatedResources(AllocatedTaskResources.newBuilder()
                                .setCpu(AllocatedCpuResources.newBuilder().setCpuShares(100))
                                .setMemory(AllocatedMemoryResources.newBuilder().setMemoryMb(16)))
                        .setLinuxResources(LinuxResources.newBuilder().setCpuShares(100)
                                .setMemoryLimitBytes(16L << 20)))
                .setMsgpackDriverConfig(ByteString.copyFrom(TestMsgpack.encode(taskConfig)))
                .build();
        StartTaskResponse started = driver.withDeadlineAfter(60, TimeUnit.SECONDS)
                .startTask(StartTaskRequest.newBuilder().setTask(task).build());
        if (started.getResult() != StartTaskResponse.Result.SUCCESS) {
            throw new IllegalStateException("training task " + taskId + " did not start: " + started.getDriverErrorMsg());
        }
        live.add(taskId);
        driver.inspectTask(InspectTaskRequest.newBuilder().setTaskId(taskId).build());
        firstStats(driver, taskId);
        if (!selfExit) {
            driver.withDeadlineAfter(60, TimeUnit.SECONDS).stopTask(StopTaskRequest.newBuilder().setTaskId(taskId)
                    .setSignal("SIGTERM").setTimeout(Duration.newBuilder().setSeconds(5)).build());
        }
        driver.withDeadlineAfter(60, TimeUnit.SECONDS).waitTask(WaitTaskRequest.newBuilder().setTaskId(taskId).build());
        driver.withDeadlineAfter(60, TimeUnit.SECONDS)
                .destroyTask(DestroyTaskRequest.newBuilder().setTaskId(taskId).setForce(true).build());
        live.remove(taskId);
    }

    /** The first message of the task's stats stream, as Nomad's stats hook reads it; then the stream is cancelled. */
    private static void firstStats(DriverGrpc.DriverBlockingStub driver, String taskId) {
        Context.CancellableContext context = Context.current().withCancellation();
        try {
            context.run(() -> {
                Iterator<TaskStatsResponse> stats = driver.taskStats(TaskStatsRequest.newBuilder().setTaskId(taskId)
                        .setCollectionInterval(Duration.newBuilder().setSeconds(1)).build());
                stats.hasNext();
            });
        } finally {
            context.cancel(null);
        }
    }

    /** A start the driver refuses (no such unikernel): its error path, as job authors' mistakes take it. */
    private void refusedStart(DriverGrpc.DriverBlockingStub driver, int i) {
        Map<String, Object> taskConfig = Map.of("unikernel", "local/missing.hvt");
        String taskId = String.format("%08x-0000-4000-9000-%012x/t/%08x", i, i, i);
        TaskConfig task = TaskConfig.newBuilder().setId(taskId).setName("t")
                .setAllocId(String.format("%08x-0000-4000-9000-%012x", i, i))
                .setAllocDir(work.resolve("allocs").resolve("a" + i).toString())
                .setMsgpackDriverConfig(ByteString.copyFrom(TestMsgpack.encode(taskConfig))).build();
        try {
            driver.withDeadlineAfter(60, TimeUnit.SECONDS).startTask(StartTaskRequest.newBuilder().setTask(task).build());
            throw new IllegalStateException("the plugin started a task whose unikernel does not exist");
        } catch (StatusRuntimeException expected) {
            // the refusal is the point
        }
    }

    /** The tenders run as dynamic users: they must reach the tender script, the images and the log files. */
    private static void openToAll(Path root) throws IOException {
        try (var paths = Files.walk(root)) {
            for (Path p : (Iterable<Path>) paths::iterator) {
                if (Files.isDirectory(p)) {
                    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
                }
            }
        }
    }

    private void removeCgroupParent() {
        for (Path dir : new CgroupTree(CgroupLayout.detect(), cgroupParent).parentDirs()) {
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                System.err.println("AOT training: cgroup " + dir + " not removed: " + e.getMessage());
            }
        }
    }

    /** Takes a stream's messages and ends quietly; completes {@code first} with the first one when given. */
    private record Ignoring<T>(CompletableFuture<T> first) implements StreamObserver<T> {
        @Override
        public void onNext(T value) {
            if (first != null) {
                first.complete(value);
            }
        }

        @Override
        public void onError(Throwable t) {
            if (first != null) {
                first.completeExceptionally(t);
            }
        }

        @Override
        public void onCompleted() {
            if (first != null) {
                first.completeExceptionally(new IllegalStateException("the stream ended before its first message"));
            }
        }
    }
}
