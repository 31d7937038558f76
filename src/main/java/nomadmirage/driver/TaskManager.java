package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.FutureTask;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import nomadmirage.cgroup.CgroupLimits;
import nomadmirage.cgroup.CgroupPlan;
import nomadmirage.cgroup.CgroupRequest;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.TaskConfig;
import nomadmirage.log.Logger;
import nomadmirage.network.Attachment;
import nomadmirage.network.InvalidNetworkRequestException;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.NetworkTeardown;
import nomadmirage.network.ReconcileReport;
import nomadmirage.network.DeviceRequest;
import nomadmirage.proc.LaunchException;
import nomadmirage.proc.LaunchRequest;
import nomadmirage.proc.Signals;
import nomadmirage.proc.SupervisedProcess;
import nomadmirage.proc.Supervisor;
import nomadmirage.proc.TaskUser;
import nomadmirage.solo5.Device;
import nomadmirage.state.AtomicFiles;
import nomadmirage.state.NodeKey;
import nomadmirage.state.Rollback;
import nomadmirage.state.StateDirectory;
import nomadmirage.tender.BlockAttachment;
import nomadmirage.tender.LaunchPlan;
import nomadmirage.tender.TenderCommand;

/**
 * The task lifecycle with Nomad's semantics — start (plan, then acquire with rollback), recover
 * from the plugin's record, wait, stop with escalation, signal, destroy, stats, events, reconcile.
 * It acts on the host only through its ports: {@link Supervisor}, {@link TaskNetworks},
 * {@link UserDirectory}, {@link HostInspector} (via the planner) and the {@link StateDirectory}.
 */
public final class TaskManager {
    private static final Duration KILL_WAIT = Duration.ofSeconds(10);

    private final Supplier<PluginConfig> config;
    private final LaunchPlanner planner;
    private final UserDirectory users;
    private final Supervisor supervisor;
    private final TaskEventBus events;
    private final TaskNetworks networks;
    private final TaskCgroups cgroups;
    private final Logger log;
    private final ConfinedFiles files = new ConfinedFiles();
    private final TaskUids uids = new TaskUids();
    private final Map<TaskId, TaskHandle> tasks = new ConcurrentHashMap<>();
    /**
     * A start holds the read side from its first host object until the task is
     * tracked, so a reconcile (write side) never sees a half-started task's tap
     * and lease as orphans.
     */
    private final ReadWriteLock startsVsReconcile = new ReentrantReadWriteLock();
    private volatile Runnable reconcileSoon = () -> { };
    private volatile Runnable recovering = () -> { };
    /** The seal of the state directory in use (its key is read once per state directory). */
    private volatile KeyedSeal seal;

    private record KeyedSeal(Path keyFile, DriverStateSeal seal) {
    }

    public TaskManager(Supplier<PluginConfig> config, LaunchPlanner planner, UserDirectory users,
            Supervisor supervisor, TaskEventBus events, TaskNetworks networks, Logger log) {
        this(config, planner, users, supervisor, events, networks, TaskCgroups.NONE, log);
    }

    public TaskManager(Supplier<PluginConfig> config, LaunchPlanner planner, UserDirectory users,
            Supervisor supervisor, TaskEventBus events, TaskNetworks networks, TaskCgroups cgroups, Logger log) {
        this.config = config;
        this.networks = networks;
        this.cgroups = cgroups;
        this.planner = planner;
        this.users = users;
        this.supervisor = supervisor;
        this.events = events;
        this.log = log;
    }

    public TaskEventBus events() {
        return events;
    }

    /** What to run when a detach failed and a reconcile should retry it soon. */
    public void onReconcileNeeded(Runnable trigger) {
        this.reconcileSoon = trigger;
    }

    /** What to run when Nomad recovers a task (an authenticated RecoverTask): the first reconcile waits. */
    public void onRecovering(Runnable hook) {
        this.recovering = hook;
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
        return start(request, taskConfig, Optional.empty());
    }

    /** @param groupNamespace the allocation's network namespace in group ("bridge") mode; empty in host mode */
    public TaskHandle start(TaskRequest request, TaskConfig taskConfig, Optional<Path> groupNamespace)
            throws DriverException {
        if (tasks.containsKey(request.id())) {
            throw new TaskStateException("task " + request.id() + " was already started by this plugin");
        }
        StartPhases phases = new StartPhases();
        PluginConfig plugin = config.get();
        StateDirectory state = new StateDirectory(plugin.stateDir());

        // 1. Plan: every error of the job is reported here, before anything exists on the host.
        StartPlan plan = planner.plan(request, taskConfig, plugin);
        boolean ownUid = UserPolicy.wantsOwnUid(request.user(), plugin) && users.canSwitchUsers();
        Optional<TaskUser> named = ownUid ? Optional.empty() : UserPolicy.resolve(users, request.user(), plugin);
        // What the start found and set up goes to Nomad as one event, once the tender runs: Nomad persists
        // every task event in its client state before it goes on, so each event costs the start a write there.
        List<String> startDetails = new ArrayList<>();
        startDetails.add("unikernel manifest: target " + plan.unikernel().abi().target().elftoolName()
                + ", ABI version " + plan.unikernel().abi().version() + ", devices "
                + deviceList(plan.unikernel().manifest().devices()));

        phases.mark("plan");
        DriverStateSeal sealer = sealFor(state, true)
                .orElseThrow(() -> new IllegalStateException("a created key is always there"));
        Path runDir = state.runDir(request.id().fileName());
        Logger taskLog = log.named("task");
        startsVsReconcile.readLock().lock();
        try (Rollback cleanup = new Rollback(taskLog, request.id().value(), "manual cleanup may be needed")) {
            // 2. Acquire, each step pushing its undo.
            clearCutShortStart(request, plan, plugin, runDir);
            TaskFiles.createRunDir(runDir, cleanup);
            phases.mark("run_dir");
            CgroupPlan cgroupPlan = planCgroups(request, plan, plugin, runDir, cleanup);
            cgroupSummary(cgroupPlan, plan).ifPresent(startDetails::add);
            phases.mark("cgroups");
            Optional<TaskUser> user = named;
            if (ownUid) {
                int uid = uids.allocate(state, plugin.limits().taskUids());
                cleanup.add(() -> uids.release(uid));
                TaskUids.record(runDir, uid);
                user = Optional.of(new TaskUser(uid, uid, List.of(), true));
            }
            phases.mark("uid");
            Optional<Attachment> attachment = attachNetwork(request, taskConfig, plan, plugin, user, groupNamespace,
                    cleanup);
            phases.mark("network");
            for (StartPlan.NewBlockFile file : plan.filesToCreate()) {
                TaskFiles.createBlockFile(files, file, user, cleanup);
            }
            for (StartPlan.ExistingBlockFile file : plan.filesToCheck()) {
                TaskFiles.checkBlockFile(files, file);
            }

            // 3. The tender's command line from the bound plan, and the launch.
            LaunchPlan launch = plan.bind(attachment);
            if (!launch.blocks().isEmpty() || !launch.nets().isEmpty()) {
                startDetails.add("attached devices: " + attachments(launch, attachment));
            }
            List<String> argv = TenderCommand.argv(launch);
            phases.mark("files");
            long startedAt = nowNanos();
            // The record is written while the supervisor starts the tender (it needs nothing the launch returns).
            // A record without a tender is what a start cut short leaves: Nomad never got a handle for it, and a
            // retried start or the reconcile removes it.
            DriverState driverState = DriverState.of(request, plan.kind(), startedAt, new DriverState.Network(
                    attachment.map(Attachment::devices).orElse(List.of()), taskConfig.autoAdvertise(),
                    attachment.isPresent() ? groupNamespace.map(Path::toString).orElse("") : ""));
            TaskRecord record = new TaskRecord(driverState, new TaskRecord.Launch(argv, plan.kernel().toString(),
                    plan.memoryMb(), plan.unikernel().manifest().devices().stream()
                            .map(d -> d.name() + ":" + d.type()).toList()));
            FutureTask<Void> recording = new FutureTask<>(() -> {
                record.write(runDir);
                return null;
            });
            Thread.ofVirtual().name("record-" + request.id().fileName()).start(recording);
            SupervisedProcess process = null;
            try {
                process = supervisor.launch(new LaunchRequest(argv, request.taskDir(),
                        consolePath(request.stdoutPath()), consolePath(request.stderrPath()), runDir, user.orElse(null),
                        user.filter(u -> u.uid() != 0).isPresent() ? plan.devicesOpenedByPath() : Set.of(),
                        cgroupPlan.joins(), attachment.isPresent() ? groupNamespace.orElse(null) : null));
            } catch (LaunchException e) {
                throw new HostFailureException("could not start " + plan.kind().configName() + ": " + e.getMessage(), e);
            } finally {
                if (process == null) {
                    awaitQuietly(recording); // before the rollback removes the run directory it writes into
                }
            }
            SupervisedProcess started = process;
            cleanup.add(() -> killAndWait(started));
            phases.mark("launch");

            // 4. The record: from now on the task can be recovered.
            try {
                recording.get();
            } catch (ExecutionException e) {
                throw new HostFailureException("cannot record the task in " + runDir + ": " + e.getCause().getMessage(),
                        e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new HostFailureException("interrupted while recording the task in " + runDir, e);
            }
            phases.mark("record");
            TaskHandle handle = new TaskHandle(request.id(), record, sealer.seal(driverState), process,
                    TaskState.STARTING);
            handle.moveTo(TaskState.RUNNING);
            tasks.put(request.id(), handle);
            cleanup.commit();
            emit(handle, "Started " + plan.kind().configName() + " (pid " + process.tender().pid() + ", "
                    + plan.memoryMb() + " MB): " + String.join("; ", startDetails),
                    Map.of("pid", Long.toString(process.tender().pid()),
                            "target", plan.unikernel().abi().target().elftoolName(), "tender", plan.kind().configName()));
            taskLog.info("task started", "task_id", request.id(), "tender", plan.kind().configName(),
                    "pid", process.tender().pid());
            taskLog.debug("tender command line", "task_id", request.id(), "argv", String.join(" ", argv));
            phases.mark("publish");
            taskLog.debug("task start phases", phases.keyValues("task_id", request.id()));
            watchExit(handle);
            return handle;
        } finally {
            startsVsReconcile.readLock().unlock();
        }
    }

    /**
     * Nomad retries StartTask with the same task id when the plugin died during the first attempt.
     * Nothing of that attempt was reported to Nomad, so whatever it left — tender, network objects,
     * run directory — is removed before the retry starts afresh.
     */
    private void clearCutShortStart(TaskRequest request, StartPlan plan, PluginConfig plugin, Path runDir)
            throws HostFailureException {
        // Following links: the state directory is the plugin's own, and NIO's no-follow checks throw (and fill a
        // stack trace) internally for a missing file, which is the common case here.
        if (!Files.exists(runDir)) {
            return;
        }
        String id = request.id().value();
        log.warn("an earlier start of this task was cut short; removing what it left", "task_id", id, "run_dir", runDir);
        Supervisor.RunDirState earlier = supervisor.inspect(runDir);
        if (earlier == Supervisor.RunDirState.RUNNING || earlier == Supervisor.RunDirState.STARTING) {
            try {
                killAndWait(supervisor.attach(runDir));
            } catch (Exception e) {
                throw new HostFailureException("cannot stop the tender of an earlier, cut-short start of task " + id
                        + " (" + runDir + "): " + e.getMessage(), e);
            }
        }
        List<String> cgroupsLeft = cgroups.remove(plugin, runDir.getFileName().toString());
        if (!cgroupsLeft.isEmpty()) {
            throw new HostFailureException("cannot remove the cgroups of an earlier, cut-short start of task " + id
                    + ": " + cgroupsLeft);
        }
        if (plan.wantsNetwork() || new StateDirectory(plugin.stateDir()).networkInUse()) {
            try {
                networks.detach(plugin, NetworkTeardown.derived(id,
                        plan.netRequests().stream().map(DeviceRequest::device).toList(), List.of()));
            } catch (NetworkSetupException e) {
                throw new HostFailureException("cannot release the network of an earlier, cut-short start of task "
                        + id + ": " + e.getMessage(), e);
            }
        }
        try {
            AtomicFiles.deleteTree(runDir);
        } catch (IOException e) {
            throw new HostFailureException("cannot remove " + runDir + " left by a cut-short start: " + e.getMessage(), e);
        }
        emit(request, "Removed what an earlier start of this task left when the plugin stopped before answering Nomad",
                Map.of());
    }

    /**
     * The tender's cgroups, created by its supervisor; their removal is pushed first, so that a failed
     * start removes whatever the supervisor could not (it removes them itself once the tender ends).
     */
    private CgroupPlan planCgroups(TaskRequest request, StartPlan plan, PluginConfig plugin, Path runDir,
            Rollback cleanup) throws DriverException {
        String name = runDir.getFileName().toString();
        CgroupPlan cgroupPlan;
        try {
            cgroupPlan = cgroups.plan(plugin, name, new CgroupRequest(plan.kind(), request.cpuMhz(), plan.memoryMb(),
                    request.memoryMaxMb(), request.cpusetCpus(), request.cpusetCgroup()));
        } catch (IllegalArgumentException e) {
            throw new InvalidTaskException("resources: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new HostFailureException("cannot prepare the cgroup parent " + plugin.cgroupParent() + ": "
                    + e.getMessage(), e);
        }
        if (cgroupPlan.isEmpty()) {
            return cgroupPlan;
        }
        cleanup.add(() -> {
            List<String> failures = cgroups.remove(plugin, name);
            if (!failures.isEmpty()) {
                throw new IOException("cgroups left: " + failures);
            }
        });
        return cgroupPlan;
    }

    /** The limits a tender's cgroups get, for the start event; empty when it gets no cgroup. */
    private static Optional<String> cgroupSummary(CgroupPlan cgroupPlan, StartPlan plan) {
        if (cgroupPlan.isEmpty()) {
            return Optional.empty();
        }
        CgroupLimits limits = cgroupPlan.limits();
        return Optional.of("cgroup limits (" + cgroupPlan.version().attribute() + "): memory "
                + limits.memoryLimitBytes() / (1024 * 1024) + " MiB (guest " + plan.memoryMb() + " MiB + tender), "
                + (limits.cpuShares() > 0 ? "cpu shares " + limits.cpuShares() + " (weight " + limits.cpuWeight() + "), "
                        : "")
                + "pids " + limits.pidsMax()
                + (limits.cpus().isEmpty() ? "" : ", cores " + limits.cpus()));
    }

    private Optional<Attachment> attachNetwork(TaskRequest request, TaskConfig taskConfig, StartPlan plan,
            PluginConfig plugin, Optional<TaskUser> user, Optional<Path> groupNamespace, Rollback cleanup)
            throws DriverException {
        if (!plan.wantsNetwork()) {
            return Optional.empty();
        }
        Attachment attachment;
        try {
            if (groupNamespace.isPresent()) {
                Path netns = groupNamespace.get();
                attachment = networks.attachGroup(plugin, netns, request.id().value(), user, plan.netRequests());
                cleanup.add(() -> networks.detachGroup(plugin, netns, attachment.teardown()));
                return Optional.of(attachment);
            }
            attachment = networks.attach(plugin, request.id().value(), user, plan.netRequests());
        } catch (InvalidNetworkRequestException e) {
            throw new InvalidTaskException(networkField(taskConfig, e) + ": " + e.getMessage(), e);
        } catch (NetworkSetupException e) {
            throw new HostFailureException("network setup failed: " + e.getMessage(), e);
        }
        cleanup.add(() -> networks.detach(plugin, attachment.teardown()));
        return Optional.of(attachment);
    }

    /**
     * Finds a task again after a plugin restart. The handle's driver state is untrusted: it must carry
     * a MAC under this node's key for this task id (checked before anything else, even for a task this
     * plugin already tracks, so a refused handle touches nothing), and then the task is found by its id
     * in the state directory and must match the plugin's own record there.
     */
    public TaskHandle recover(TaskId id, byte[] driverState) throws DriverException {
        StateDirectory state = new StateDirectory(config.get().stateDir());
        DriverStateSeal sealer = sealFor(state, false).orElseThrow(() -> new InvalidTaskException(
                "the task handle's driver state failed authentication: this node has no driver-state key ("
                        + state.driverStateKey() + "), so no handle of task " + id + " was issued here"));
        DriverState given = sealer.open(id, driverState);
        recovering.run();
        TaskHandle known = tasks.get(id);
        if (known != null) {
            return known;
        }
        Path runDir = state.runDir(id.fileName());
        if (!Files.isDirectory(runDir, LinkOption.NOFOLLOW_LINKS)) {
            throw new TaskNotFoundException(id, "its run directory " + runDir + " is gone");
        }
        TaskRecord record;
        try {
            record = TaskRecord.read(runDir).orElseThrow(() -> new TaskNotFoundException(id,
                    "its start never completed: " + runDir + " holds no task record"));
        } catch (IOException e) {
            throw new HostFailureException("cannot read the record of task " + id + " in " + runDir + ": "
                    + e.getMessage(), e);
        }
        if (!record.state().equals(given)) {
            throw new InvalidTaskException("the task handle's driver state does not match the plugin's record of task "
                    + id + " in " + runDir);
        }
        SupervisedProcess process;
        try {
            process = supervisor.attach(runDir);
        } catch (IOException e) {
            throw new HostFailureException("cannot recover task " + id + " from " + runDir + ": " + e.getMessage(), e);
        }
        TaskHandle handle = new TaskHandle(id, record, sealer.seal(record.state()), process, TaskState.RUNNING, true);
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
     * Stops a task: its kill signal, then SIGKILL once the timeout has passed. Returns once the
     * tender is gone. Solo5 guests cannot act on an ACPI power button (qemu runs them with
     * acpi=off), so qemu gets the signal at once like the other tenders.
     */
    public void stop(TaskId id, Duration timeout, String signalName) throws DriverException {
        int signal = parseSignal(signalName == null || signalName.isEmpty() ? "SIGTERM" : signalName);
        TaskHandle handle = get(id);
        if (!handle.moveIf(TaskState.RUNNING, TaskState.STOPPING)) {
            if (handle.state() == TaskState.STOPPING) {
                // Another stop runs (or a retry after one failed): wait for it, then make sure the tender is gone.
                awaitExit(handle, timeout.plus(KILL_WAIT));
                killOrFail(handle);
            }
            return;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        handle.markStopRequested();
        if (!handle.outcome().isDone()) {
            sendSignal(handle, signal);
            awaitExit(handle, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        }
        if (!handle.outcome().isDone()) {
            emit(handle, "Stop timeout of " + timeout.toMillis() + " ms passed; killing the tender", Map.of());
            killOrFail(handle);
        }
    }

    /** SIGKILL unless the tender is gone; a tender that survives it is a host failure and stays tracked. */
    private void killOrFail(TaskHandle handle) throws HostFailureException {
        if (handle.outcome().isDone()) {
            return;
        }
        sendSignal(handle, 9);
        awaitExit(handle, KILL_WAIT);
        if (!handle.outcome().isDone()) {
            throw new HostFailureException("the tender (pid " + handle.process().tender().pid()
                    + ") survived SIGKILL for " + KILL_WAIT.toSeconds() + " s");
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

    /** Frees everything the task holds and forgets it. */
    public void destroy(TaskId id, boolean force) throws DriverException {
        StartPhases phases = new StartPhases();
        TaskHandle handle = get(id);
        if (!handle.outcome().isDone()) {
            if (!force) {
                throw TaskStateException.stillRunning(id);
            }
            handle.markStopRequested();
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
        phases.mark("stop");
        Optional<Integer> ownUid = TaskUids.ownUid(handle.process().runDir());
        List<String> cgroupsLeft = cgroups.remove(config.get(), handle.process().runDir().getFileName().toString());
        if (!cgroupsLeft.isEmpty()) {
            log.warn("could not remove the task's cgroups; a reconcile retries", "task_id", id, "error",
                    String.join("; ", cgroupsLeft));
            reconcileSoon.run();
        }
        phases.mark("cgroups");
        if (handle.driverState().networks().isEmpty()) {
            ownUid.ifPresent(uids::release);
        } else if (handle.driverState().groupNamespace().isPresent()) {
            // The tender is gone, so the namespace is Nomad's to remove; what is ours in it goes now.
            try {
                networks.detachGroup(config.get(), handle.driverState().groupNamespace().get(),
                        handle.driverState().networkTeardown());
            } catch (NetworkSetupException e) {
                log.error("could not remove the task's taps and rules from the allocation's network namespace",
                        "task_id", id, "error", e.getMessage());
            } finally {
                ownUid.ifPresent(uids::release);
            }
        } else {
            // The uid goes back once the taps it owns are gone (the reaper deletes them right after).
            ownUid.ifPresent(uids::holdUntilReleased);
            try {
                networks.release(config.get(), handle.driverState().networkTeardown()).whenComplete((done, e) -> {
                    ownUid.ifPresent(uids::release);
                    if (e != null) {
                        log.error("could not remove all of the task's network objects; a reconcile retries shortly",
                                "task_id", id, "error", e.getMessage());
                        reconcileSoon.run();
                    }
                });
            } catch (NetworkSetupException e) {
                ownUid.ifPresent(uids::release);
                log.error("could not remove all of the task's network objects; a reconcile retries shortly",
                        "task_id", id, "error", e);
                reconcileSoon.run();
            }
        }
        phases.mark("network");
        try {
            AtomicFiles.deleteTree(handle.process().runDir());
        } catch (IOException e) {
            log.warn("could not remove the task's run directory; a reconcile retries", "task_id", id, "error", e);
            reconcileSoon.run();
        }
        phases.mark("run_dir");
        log.info("task destroyed", "task_id", id);
        log.debug("task destroy phases", phases.keyValues("task_id", id));
    }

    /**
     * The seal under the state directory's key; with {@code create}, the key is made when there is none
     * (a start), else a missing key is empty (a recovery: nothing was issued here).
     */
    private Optional<DriverStateSeal> sealFor(StateDirectory state, boolean create) throws HostFailureException {
        Path keyFile = state.driverStateKey();
        KeyedSeal cached = seal;
        if (cached != null && cached.keyFile().equals(keyFile)) {
            return Optional.of(cached.seal());
        }
        synchronized (this) {
            cached = seal;
            if (cached != null && cached.keyFile().equals(keyFile)) {
                return Optional.of(cached.seal());
            }
            Optional<byte[]> key;
            try {
                key = create ? Optional.of(NodeKey.loadOrCreate(keyFile)) : NodeKey.load(keyFile);
            } catch (IOException e) {
                throw new HostFailureException("cannot " + (create ? "read or create" : "read") + " the driver-state key "
                        + keyFile + ": " + e.getMessage(), e);
            }
            if (key.isEmpty()) {
                return Optional.empty();
            }
            DriverStateSeal made = new DriverStateSeal(key.get());
            seal = new KeyedSeal(keyFile, made);
            return Optional.of(made);
        }
    }

    /** Kills every tracked task's tender; used only by tests and benchmarks, never on plugin shutdown. */
    /** Waits up to {@code limit} for the networks of destroyed tasks to be removed (at shutdown). */
    public void awaitNetworkReleases(Duration limit) {
        try {
            networks.awaitReleases(limit);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public void destroyAll() {
        for (TaskId id : List.copyOf(tasks.keySet())) {
            try {
                destroy(id, true);
            } catch (DriverException e) {
                log.error("could not destroy a task", "task_id", id, "error", e.getMessage());
            }
        }
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
     * Removes what belongs to no task Nomad still holds: tenders and run directories of untracked
     * tasks (ended ones once older than {@code endedMinAge}, so that Nomad can still recover them for
     * their exit status), then network objects of no kept task. Never touches a tracked task.
     */
    public Optional<ReconcileReport> reconcile(Duration endedMinAge) {
        startsVsReconcile.writeLock().lock();
        try {
            Set<String> tracked = new HashSet<>();
            tasks.keySet().forEach(id -> tracked.add(id.value()));
            PluginConfig plugin = config.get();
            Optional<ReconcileReport> report = new OrphanReconciler(plugin, networks, supervisor, log)
                    .reconcile(tracked, endedMinAge);
            removeOrphanedCgroups(plugin);
            uids.resync(new StateDirectory(plugin.stateDir()));
            return report;
        } finally {
            startsVsReconcile.writeLock().unlock();
        }
    }

    /** Cgroups named after no run directory left (the reconcile removed the orphans' directories). */
    private void removeOrphanedCgroups(PluginConfig plugin) {
        Set<String> keep = new HashSet<>();
        try {
            new StateDirectory(plugin.stateDir()).runDirs().forEach(dir -> keep.add(dir.getFileName().toString()));
        } catch (IOException e) {
            log.warn("cannot list run directories; orphaned cgroups are left for the next reconcile", "error", e);
            return;
        }
        List<Path> removed = cgroups.reconcile(plugin, keep);
        if (!removed.isEmpty()) {
            log.info("removed orphaned cgroups", "cgroups", removed.toString());
        }
    }

    /** A sampler of the task's tender usage, for one stats stream. */
    public TaskUsageSampler sampler(TaskHandle handle) {
        String name = handle.process().runDir().getFileName().toString();
        return new TaskUsageSampler(handle, () -> cgroups.usage(config.get(), name));
    }

    /** The node's cgroup hierarchies as the driver uses them. */
    public TaskCgroups cgroups() {
        return cgroups;
    }

    private void watchExit(TaskHandle handle) {
        handle.process().exit().whenComplete((status, error) -> {
            StopRequest stopRequest = handle.stopRequest();
            ExitOutcome outcome = error != null
                    ? new ExitOutcome(-1, 0, "lost track of the tender: " + error.getMessage(), "lost track of the tender")
                    : ExitOutcome.from(status, handle.tender(), stopRequest);
            Instant at = status != null && status.exitedAt() != null ? status.exitedAt() : Instant.now();
            emit(handle, "Tender exited: " + outcome.description(), Map.of(
                    "exit_code", Integer.toString(outcome.exitCode()), "signal", Integer.toString(outcome.signal())));
            if (outcome.abnormal() && stopRequest != StopRequest.REQUESTED && !outcome.consoleTail().isEmpty()) {
                emit(handle, CrashContext.message(outcome.consoleTail()), Map.of("console_tail", outcome.consoleTail()));
            }
            // Published after the events, so a waiter that saw the end also finds its crash context.
            handle.exited(outcome, at);
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
        events.publish(new TaskEvent(handle.id(), s.allocId(), s.taskName(), Instant.now(), message, annotations));
    }

    private void emit(TaskRequest request, String message, Map<String, String> annotations) {
        events.publish(new TaskEvent(request.id(), request.allocId(), request.name(), Instant.now(), message, annotations));
    }

    static void killAndWait(SupervisedProcess process) throws Exception {
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

    /** Waits for a side task whose outcome no longer matters (the start fails anyway), so that none outlives it. */
    private static void awaitQuietly(FutureTask<?> task) {
        try {
            task.get();
        } catch (ExecutionException e) {
            // the start fails for another reason, reported instead
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
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

    private static String attachments(LaunchPlan plan, Optional<Attachment> network) {
        List<String> out = new ArrayList<>();
        for (BlockAttachment b : plan.blocks()) {
            out.add(b.device() + " -> " + b.file() + (b.readOnly() ? " (read-only)" : ""));
        }
        network.ifPresent(attached -> attached.devices().forEach(n -> out.add(n.device() + " -> tap " + n.tap()
                + ", mac " + n.mac() + ", ip " + n.cidr() + (n.forwards().isEmpty() ? "" : ", ports " + n.forwards().stream()
                .map(f -> f.label() + " " + f.hostPort() + "->" + f.guestPort()).toList()))));
        return String.join(", ", out);
    }
}
