package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.TaskConfig;
import java.util.HashSet;
import java.util.OptionalInt;
import java.util.Set;
import nomadmirage.log.Logger;
import nomadmirage.network.Attachment;
import nomadmirage.network.DeviceRequest;
import nomadmirage.network.InvalidNetworkRequestException;
import nomadmirage.network.NetworkManager;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.NetworkTeardown;
import nomadmirage.network.ReconcileReport;
import nomadmirage.tender.NetAttachment;
import nomadmirage.proc.LaunchException;
import nomadmirage.proc.LaunchRequest;
import nomadmirage.proc.Signals;
import nomadmirage.proc.SupervisedProcess;
import nomadmirage.proc.Supervisor;
import nomadmirage.proc.TaskUser;
import nomadmirage.solo5.Device;
import nomadmirage.state.AtomicFiles;
import nomadmirage.state.Rollback;
import nomadmirage.tender.BlockAttachment;
import nomadmirage.tender.TenderCommand;
import nomadmirage.tender.TenderKind;

/**
 * The task lifecycle with Nomad's semantics: start (with rollback), recover
 * from driver state alone, wait, stop with escalation, signal, destroy.
 */
public final class TaskManager {
    static final String TASK_RECORD = "task.json";
    private static final Duration KILL_WAIT = Duration.ofSeconds(10);

    private final Supplier<PluginConfig> config;
    private final LaunchPlanner planner;
    private final TaskUserResolver users;
    private final Supervisor supervisor;
    private final TaskEventBus events;
    private final NetworkService networks;
    private final Logger log;
    private final Map<TaskId, TaskHandle> tasks = new ConcurrentHashMap<>();
    /**
     * A start holds the read side from its first host object until the task is
     * tracked, so a reconcile (write side) never sees a half-started task's tap
     * and lease as orphans.
     */
    private final ReadWriteLock startsVsReconcile = new ReentrantReadWriteLock();

    public TaskManager(Supplier<PluginConfig> config, LaunchPlanner planner, TaskUserResolver users,
            Supervisor supervisor, TaskEventBus events, NetworkService networks, Logger log) {
        this.config = config;
        this.networks = networks;
        this.planner = planner;
        this.users = users;
        this.supervisor = supervisor;
        this.events = events;
        this.log = log;
    }

    public TaskEventBus events() {
        return events;
    }

    public Optional<TaskHandle> find(TaskId id) {
        return Optional.ofNullable(tasks.get(id));
    }

    public TaskHandle get(TaskId id) throws TaskNotFoundException {
        TaskHandle handle = tasks.get(id);
        if (handle == null) {
            throw new TaskNotFoundException(id);
        }
        return handle;
    }

    public List<TaskHandle> all() {
        return List.copyOf(tasks.values());
    }

    public TaskHandle start(TaskRequest request, TaskConfig taskConfig) throws DriverException {
        if (tasks.containsKey(request.id())) {
            throw new TaskStateException("task " + request.id() + " was already started by this plugin");
        }
        PluginConfig plugin = config.get();
        Path runDir = plugin.stateDir().resolve("tasks").resolve(request.id().fileName());
        Logger taskLog = log.named("task");
        startsVsReconcile.readLock().lock();
        try (Rollback cleanup = new Rollback(taskLog, request.id().value(), "manual cleanup may be needed")) {
            TaskFiles.createRunDir(runDir, cleanup);
            String userName = request.user() == null || request.user().isEmpty() ? plugin.defaultUser() : request.user();
            Optional<TaskUser> baseUser = users.resolve(userName);
            Attachment[] attached = new Attachment[1];
            LaunchPlanner.Planned planned = planner.plan(request, taskConfig, plugin, runDir,
                    devices -> bindNetwork(request, taskConfig, plugin, baseUser, devices, cleanup, attached));
            var plan = planned.plan();
            emit(request.id(), request.allocId(), request.name(), "Read unikernel manifest: target "
                    + planned.unikernel().abi().target().elftoolName() + ", ABI version " + planned.unikernel().abi().version()
                    + ", devices " + deviceList(planned.unikernel().manifest().devices()),
                    Map.of("target", planned.unikernel().abi().target().elftoolName(),
                            "tender", plan.kind().configName()));

            boolean wantsKvm = plan.kind() == TenderKind.SOLO5_HVT
                    || plan.qemu().map(q -> q.kvm()).orElse(false);
            Optional<TaskUser> user = wantsKvm ? baseUser.map(TaskUserResolver::withKvmGroup) : baseUser;

            for (LaunchPlanner.NewBlockFile file : planned.filesToCreate()) {
                TaskFiles.createBlockFile(file, user, cleanup);
            }
            if (plan.qemu().isPresent()) {
                TaskFiles.prepareSocketDir(plan.qemu().get().qmpSocket().getParent(), user, cleanup);
            }
            if (!plan.blocks().isEmpty() || !plan.nets().isEmpty()) {
                emit(request.id(), request.allocId(), request.name(), "Attached devices: " + attachments(plan, attached[0]),
                        Map.of());
            }

            List<String> argv = TenderCommand.argv(plan);
            LaunchRequest launch = new LaunchRequest(argv, request.env(), request.taskDir(),
                    consolePath(request.stdoutPath()), consolePath(request.stderrPath()), runDir, user.orElse(null));
            long startedAt = nowNanos();
            SupervisedProcess process;
            try {
                process = supervisor.launch(launch);
            } catch (LaunchException e) {
                throw new HostFailureException("could not start " + plan.kind().configName() + ": " + e.getMessage(), e);
            }
            cleanup.add(() -> killAndWait(process));

            DriverState state = new DriverState(DriverState.CURRENT_VERSION, request.id().value(), request.allocId(),
                    request.name(), plan.kind().name(), runDir.toString(), plan.kernel().toString(), argv,
                    startedAt, plan.qemu().map(q -> q.qmpSocket().toString()).orElse(null), plan.memoryMb(),
                    planned.unikernel().manifest().devices().stream().map(d -> d.name() + ":" + d.type()).toList(),
                    attached[0] == null ? List.of() : attached[0].devices(),
                    attached[0] == null ? null : attached[0].teardown(),
                    taskConfig.autoAdvertise());
            try {
                AtomicFiles.write(runDir.resolve(TASK_RECORD), state.encode());
            } catch (IOException e) {
                throw new HostFailureException("cannot record the task in " + runDir + ": " + e.getMessage(), e);
            }
            TaskHandle handle = new TaskHandle(request.id(), state, process, TaskState.STARTING);
            handle.moveTo(TaskState.RUNNING);
            tasks.put(request.id(), handle);
            cleanup.commit();
            emit(handle, "Started " + plan.kind().configName() + " (pid " + process.tender().pid() + ", "
                    + plan.memoryMb() + " MB)", Map.of("pid", Long.toString(process.tender().pid())));
            taskLog.info("task started", "task_id", request.id(), "tender", plan.kind().configName(),
                    "pid", process.tender().pid(), "argv", String.join(" ", argv));
            watchExit(handle);
            return handle;
        } finally {
            startsVsReconcile.readLock().unlock();
        }
    }

    /** Finds a task again from its driver state alone; a task already tracked is returned as is. */
    public TaskHandle recover(TaskId id, byte[] driverState) throws DriverException {
        TaskHandle known = tasks.get(id);
        if (known != null) {
            return known;
        }
        DriverState state = DriverState.decode(driverState);
        if (!state.taskId().equals(id.value())) {
            throw new InvalidTaskException("driver state belongs to task " + state.taskId() + ", not " + id);
        }
        SupervisedProcess process;
        Path runDir = Path.of(state.runDir());
        if (!Files.isDirectory(runDir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new TaskNotFoundException(id, "its run directory " + runDir + " is gone");
        }
        try {
            process = supervisor.attach(runDir);
        } catch (IOException e) {
            throw new HostFailureException("cannot recover task " + id + " from " + runDir + ": " + e.getMessage(), e);
        }
        TaskHandle handle = new TaskHandle(id, state, process, TaskState.RUNNING);
        TaskHandle raced = tasks.putIfAbsent(id, handle);
        if (raced != null) {
            return raced;
        }
        log.info("task recovered", "task_id", id, "pid", process.tender().pid(), "alive", process.isAlive());
        emit(handle, "Recovered after a plugin restart (tender pid " + process.tender().pid()
                + (process.isAlive() ? ", running)" : ", already exited)"), Map.of());
        watchExit(handle);
        return handle;
    }

    /**
     * Stops a task: QMP power-down first for qemu, then the signal, then SIGKILL
     * once the timeout has passed. Returns once the tender is gone. A task that
     * already ended, or that this plugin does not know, needs nothing.
     */
    public void stop(TaskId id, Duration timeout, String signalName) throws DriverException {
        int signal = parseSignal(signalName == null || signalName.isEmpty() ? "SIGTERM" : signalName);
        TaskHandle handle = get(id);
        if (!handle.moveIf(TaskState.RUNNING, TaskState.STOPPING)) {
            if (handle.state() == TaskState.STOPPING) {
                awaitExit(handle, timeout.plus(KILL_WAIT));
            }
            return;
        }
        // Solo5 guests cannot act on an ACPI power button (qemu runs them with acpi=off), so qemu
        // gets the kill signal at once like the other tenders.
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!handle.outcome().isDone()) {
            sendSignal(handle, signal);
            awaitExit(handle, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        }
        if (!handle.outcome().isDone()) {
            emit(handle, "Stop timeout of " + timeout.toMillis() + " ms passed; killing the tender", Map.of());
            sendSignal(handle, 9);
            awaitExit(handle, KILL_WAIT);
        }
    }

    public void signal(TaskId id, String signalName) throws DriverException {
        int signal = parseSignal(signalName);
        TaskHandle handle = get(id);
        if (!handle.state().isLive() || !sendSignal(handle, signal)) {
            throw new TaskStateException("task " + id + " has already exited; cannot send " + signalName);
        }
        emit(handle, "Sent " + signalName + " to the tender", Map.of("signal", signalName));
    }

    /** Frees everything the task holds and forgets it; idempotent. */
    public void destroy(TaskId id, boolean force) throws DriverException {
        TaskHandle handle = get(id);
        if (!handle.outcome().isDone()) {
            if (!force) {
                throw TaskStateException.stillRunning(id);
            }
            sendSignal(handle, 9);
            awaitExit(handle, KILL_WAIT);
        }
        if (!handle.outcome().isDone()) {
            throw new HostFailureException("the tender (pid " + handle.process().tender().pid() + ") survived SIGKILL for "
                    + KILL_WAIT.toSeconds() + " s; the task is kept and its objects are not released");
        }
        if (handle.state() != TaskState.DESTROYED) {
            handle.moveTo(TaskState.DESTROYED);
        }
        tasks.remove(id);
        NetworkTeardown teardown = handle.driverState().networkTeardown();
        if (teardown != null) {
            try {
                networks.forConfig(config.get()).detach(teardown);
            } catch (NetworkSetupException e) {
                log.error("could not remove all of the task's network objects; the next reconcile retries",
                        "task_id", id, "error", e);
            }
        }
        try {
            AtomicFiles.deleteTree(Path.of(handle.driverState().runDir()));
            String qmp = handle.driverState().qmpSocket();
            if (qmp != null) {
                Files.deleteIfExists(Path.of(qmp));
            }
        } catch (IOException e) {
            log.warn("could not remove the task's run directory", "task_id", id, "error", e);
        }
        log.info("task destroyed", "task_id", id);
    }

    /** Kills every tracked task's tender; used only by tests and benchmarks, never on plugin shutdown. */
    public void destroyAll() {
        for (TaskId id : List.copyOf(tasks.keySet())) {
            try {
                destroy(id, true);
            } catch (DriverException e) {
                log.error("could not destroy a task", "task_id", id, "error", e.getMessage());
            }
        }
    }

    private LaunchPlanner.BoundNetwork bindNetwork(TaskRequest request, TaskConfig taskConfig, PluginConfig plugin,
            Optional<TaskUser> user, List<String> devices, Rollback cleanup, Attachment[] attached)
            throws InvalidTaskException, HostFailureException {
        NetworkBinding binding = NetworkBinding.of(devices, taskConfig);
        if (binding.isEmpty()) {
            if (!taskConfig.networks().isEmpty()) {
                throw new InvalidTaskException("network: the unikernel's manifest declares no network devices, "
                        + "so it cannot have network blocks");
            }
            return new LaunchPlanner.BoundNetwork(List.of(), taskConfig.args());
        }
        List<DeviceRequest> requests = binding.requests(request.ports());
        if (user.isPresent()) {
            TunAccess.check(user.get());
        }
        NetworkManager manager = networks.forConfig(plugin);
        Attachment attachment;
        try {
            attachment = manager.attach(request.id().value(),
                    user.map(u -> OptionalInt.of(u.uid())).orElse(OptionalInt.empty()),
                    user.map(u -> OptionalInt.of(u.gid())).orElse(OptionalInt.empty()), requests);
        } catch (InvalidNetworkRequestException e) {
            throw new InvalidTaskException(networkField(taskConfig, e) + ": " + e.getMessage(), e);
        } catch (NetworkSetupException e) {
            throw new HostFailureException("network setup failed: " + e.getMessage(), e);
        }
        cleanup.add(() -> manager.detach(attachment.teardown()));
        attached[0] = attachment;
        List<NetAttachment> nets = attachment.devices().stream()
                .map(d -> new NetAttachment(d.device(), d.tap(), d.mac())).toList();
        return new LaunchPlanner.BoundNetwork(nets, binding.guestArgs(attachment.devices(), taskConfig.args()));
    }

    /** Where in the job the refused value was written, e.g. {@code network[0].address}. */
    private static String networkField(TaskConfig taskConfig, InvalidNetworkRequestException e) {
        for (int i = 0; i < taskConfig.networks().size(); i++) {
            if (taskConfig.networks().get(i).device().equals(e.device())
                    && (e.field().equals("address") || e.field().equals("mac"))) {
                return "network[" + i + "]." + e.field();
            }
        }
        return "network";
    }

    /**
     * Once recovery has settled: releases the network objects of tasks that are
     * neither tracked nor running. Never touches a live task's objects.
     */
    public Optional<ReconcileReport> reconcileNetwork() {
        startsVsReconcile.writeLock().lock();
        try {
            Set<String> tracked = new HashSet<>();
            tasks.keySet().forEach(id -> tracked.add(id.value()));
            return new OrphanReconciler(config.get(), networks, supervisor, log).reconcile(tracked);
        } finally {
            startsVsReconcile.writeLock().unlock();
        }
    }

    /** A sampler of the task's tender usage, for one stats stream. */
    public TaskUsageSampler sampler(TaskHandle handle) {
        return new TaskUsageSampler(handle);
    }

    private void watchExit(TaskHandle handle) {
        handle.process().exit().whenComplete((status, error) -> {
            ExitOutcome outcome = error != null
                    ? new ExitOutcome(-1, 0, "lost track of the tender: " + error.getMessage(), "lost track of the tender")
                    : ExitOutcome.from(status, handle.tender());
            Instant at = status != null && status.exitedAt() != null ? status.exitedAt() : Instant.now();
            handle.exited(outcome, at);
            emit(handle, "Tender exited: " + outcome.description(), Map.of(
                    "exit_code", Integer.toString(outcome.exitCode()), "signal", Integer.toString(outcome.signal())));
            log.info("task exited", "task_id", handle.id(), "exit_code", outcome.exitCode(), "signal", outcome.signal(),
                    "description", outcome.description());
        });
    }

    private boolean sendSignal(TaskHandle handle, int signal) {
        try {
            return handle.process().signal(signal);
        } catch (IOException e) {
            log.warn("could not signal the tender", "task_id", handle.id(), "signal", signal, "error", e);
            return false;
        }
    }

    private static void awaitExit(TaskHandle handle, Duration timeout) {
        try {
            handle.outcome().get(Math.max(1, timeout.toMillis()), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            // the caller escalates
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static int parseSignal(String name) throws InvalidTaskException {
        try {
            return Signals.parse(name);
        } catch (IllegalArgumentException e) {
            throw new InvalidTaskException(e.getMessage(), e);
        }
    }

    private void emit(TaskHandle handle, String message, Map<String, String> annotations) {
        DriverState s = handle.driverState();
        emit(handle.id(), s.allocId(), s.taskName(), message, annotations);
    }

    private void emit(TaskId id, String allocId, String taskName, String message, Map<String, String> annotations) {
        events.publish(new TaskEvent(id, allocId, taskName, Instant.now(), message, annotations));
    }

    private static void killAndWait(SupervisedProcess process) throws Exception {
        process.signal(9);
        try {
            process.exit().get(KILL_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IllegalStateException("tender pid " + process.tender().pid() + " did not die", e);
        }
    }

    private static Path consolePath(Path path) {
        return path == null || path.toString().isEmpty() ? Path.of("/dev/null") : path;
    }

    private static long nowNanos() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    private static String deviceList(List<Device> devices) {
        if (devices.isEmpty()) {
            return "none";
        }
        List<String> out = new ArrayList<>();
        for (Device d : devices) {
            out.add(d.name() + " (" + d.type() + ")");
        }
        return String.join(", ", out);
    }

    private static String attachments(nomadmirage.tender.LaunchPlan plan, Attachment network) {
        List<String> out = new ArrayList<>();
        for (BlockAttachment b : plan.blocks()) {
            out.add(b.device() + " -> " + b.file() + (b.readOnly() ? " (read-only)" : ""));
        }
        if (network != null) {
            network.devices().forEach(n -> out.add(n.device() + " -> tap " + n.tap() + ", mac " + n.mac() + ", ip "
                    + n.cidr() + (n.forwards().isEmpty() ? "" : ", ports " + n.forwards().stream()
                    .map(f -> f.label() + " " + f.hostPort() + "->" + f.guestPort()).toList())));
        }
        return String.join(", ", out);
    }
}
