package nomadmirage.proc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import nomadmirage.state.AtomicFiles;

/**
 * Supervises each tender with one mirage-supervisor process (src/main/c/mirage-supervisor.c):
 * it runs in its own session, so it outlives this JVM, and records the tender's identity and
 * exit status in the run directory where {@link #attach} finds them again.
 */
public final class NativeSupervisor implements Supervisor {
    public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration STOP_GRACE = Duration.ofSeconds(5);
    private static final Path NULL_DEVICE = Path.of("/dev/null");

    private final Path binary;
    private final Duration startTimeout;
    private final SupervisorService service;

    public NativeSupervisor(Path binary) {
        this(binary, DEFAULT_START_TIMEOUT);
    }

    /** @param startTimeout how long opening the output FIFOs and exec'ing the tender may take */
    public NativeSupervisor(Path binary, Duration startTimeout) {
        this(binary, startTimeout, new SupervisorService(binary));
    }

    public NativeSupervisor(Path binary, Duration startTimeout, SupervisorService service) {
        this.binary = binary.toAbsolutePath();
        this.startTimeout = startTimeout;
        this.service = service;
    }

    @Override
    public SupervisedProcess launch(LaunchRequest r) throws LaunchException {
        Path dir = r.runDir().toAbsolutePath();
        String tenderPath = r.argv().getFirst();
        try {
            prepareRunDir(dir);
        } catch (IOException e) {
            throw new LaunchException("cannot use run dir " + dir + " for " + tenderPath + ": " + e.getMessage(), e);
        }
        SupervisorService.Launch launch;
        try {
            launch = service.launch(arguments(r, dir));
        } catch (IOException e) {
            throw new LaunchException("cannot run the supervisor " + binary + " for " + tenderPath + ": " + e.getMessage(), e);
        }
        String line = firstLine(launch, tenderPath);
        String[] words = line.split(" ", 3);
        switch (words[0]) {
            case "started" -> {
                return started(launch, dir, tenderPath, words);
            }
            case "exec-failed" -> {
                exitCodeSoon(launch);
                int errno = words.length > 1 && words[1].matches("\\d{1,4}") ? Integer.parseInt(words[1]) : 0;
                String message = words.length > 2 ? words[2] : line;
                throw new LaunchException("cannot start tender " + tenderPath + ": " + message + " (errno " + errno + ")",
                        errno, null);
            }
            case "error" -> {
                exitCodeSoon(launch);
                throw new LaunchException("the supervisor could not start " + tenderPath + ": "
                        + line.substring("error".length()).strip());
            }
            case "" -> throw new LaunchException("the supervisor " + binary + " ended (exit " + exitCodeSoon(launch)
                    + ") before starting " + tenderPath + logDetail(dir));
            default -> {
                stop(launch);
                throw new LaunchException("unexpected output from the supervisor " + binary + ": " + line);
            }
        }
    }

    @Override
    public SupervisedProcess attach(Path runDir) throws IOException {
        Path dir = runDir.toAbsolutePath();
        Path supervisorFile = dir.resolve(RunDir.SUPERVISOR);
        ProcessIdentity supervisor = RunDir.readIdentity(supervisorFile).orElseThrow(() -> new NoSuchFileException(
                supervisorFile.toString(), null, "no supervisor recorded: not a mirage-supervisor run dir"));
        // The handle is taken before the identity check: if the identity still matches afterwards,
        // the handle cannot belong to a process that reused the pid.
        Optional<ProcessHandle> handle = ProcessHandle.of(supervisor.pid());
        boolean supervisorAlive = handle.isPresent() && supervisor.isAlive();
        Optional<ProcessIdentity> tender = RunDir.readIdentity(dir.resolve(RunDir.TENDER));
        if (tender.isEmpty()) {
            Optional<ExitStatus> status = RunDir.readStatus(dir);
            if (status.isPresent()) {
                throw new IOException(dir + ": the tender never started: "
                        + Optional.ofNullable(status.get().failure()).orElse("exit " + status.get().exitCode()));
            }
            throw new IOException(dir + ": no tender recorded; " + (supervisorAlive
                    ? "the supervisor (pid " + supervisor.pid() + ") is still starting it"
                    : "the supervisor is gone"));
        }
        CompletableFuture<?> supervisorGone = supervisorAlive
                ? watch(supervisor, handle)
                : CompletableFuture.completedFuture(null);
        return new NativeSupervisedProcess(service, dir, tender.get(), supervisor, supervisorGone);
    }

    /** The tender a run directory records, if one was started and its record is readable. */
    public static Optional<ProcessIdentity> recordedTender(Path runDir) {
        try {
            return RunDir.readIdentity(runDir.resolve(RunDir.TENDER));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    @Override
    public RunDirState inspect(Path runDir) {
        try {
            Optional<ProcessIdentity> tender = recordedTender(runDir);
            if (tender.isPresent()) {
                return tender.get().isAlive() ? RunDirState.RUNNING : RunDirState.ENDED;
            }
            Optional<ProcessIdentity> supervisor = RunDir.readIdentity(runDir.resolve(RunDir.SUPERVISOR));
            return supervisor.isPresent() && supervisor.get().isAlive() ? RunDirState.STARTING : RunDirState.NOT_STARTED;
        } catch (IOException | RuntimeException e) {
            return RunDirState.NOT_STARTED;
        }
    }

    @Override
    public Optional<Instant> endedAt(Path runDir) {
        try {
            return RunDir.readStatus(runDir).map(ExitStatus::exitedAt);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * The exit of a supervisor the service does not hold (started before a plugin restart, or by a
     * service that ended since). The JDK can only poll a non-child, seconds late; the service waits on
     * a pidfd. Should the service fail, polling it is.
     */
    private CompletableFuture<Void> watch(ProcessIdentity supervisor, Optional<ProcessHandle> fallback) {
        try {
            return service.watch(supervisor).exceptionallyCompose(e -> polled(fallback));
        } catch (IOException e) {
            return polled(fallback);
        }
    }

    /** Only when the service cannot watch: the JDK polls a non-child with a thread of its own per process. */
    private static CompletableFuture<Void> polled(Optional<ProcessHandle> process) {
        return process.map(h -> h.onExit().thenAccept(ended -> { })).orElse(CompletableFuture.completedFuture(null));
    }

    private SupervisedProcess started(SupervisorService.Launch launch, Path dir, String tenderPath, String[] words)
            throws LaunchException {
        ProcessIdentity tender;
        ProcessIdentity identity = launch.forked().join();
        try {
            tender = new ProcessIdentity(Long.parseLong(words[1]), Long.parseLong(words[2]));
            if (identity.startTicks() == 0) {
                // The service could not read its start time: the supervisor recorded it before it said started.
                Optional<ProcessIdentity> recorded = RunDir.readIdentity(dir.resolve(RunDir.SUPERVISOR));
                if (recorded.isEmpty() || recorded.get().pid() != identity.pid()) {
                    stop(launch);
                    throw new LaunchException("the supervisor started " + tenderPath
                            + " but recorded no identity of its own in " + dir);
                }
                identity = recorded.get();
            }
        } catch (IOException | RuntimeException e) {
            stop(launch);
            throw new LaunchException("the supervisor started " + tenderPath + " but its records are unreadable: "
                    + e.getMessage(), e);
        }
        ProcessIdentity supervisor = identity;
        CompletableFuture<Void> gone = launch.exited().thenAccept(code -> { }).exceptionallyCompose(
                lost -> watch(supervisor, ProcessHandle.of(supervisor.pid())));
        return new NativeSupervisedProcess(service, dir, tender, supervisor, gone);
    }

    private static List<String> arguments(LaunchRequest r, Path dir) {
        List<String> command = new ArrayList<>(List.of("--run-dir", dir.toString()));
        if (!discards(r.stdoutPath())) {
            command.addAll(List.of("--stdout", r.stdoutPath().toString()));
        }
        if (!discards(r.stderrPath())) {
            command.addAll(List.of("--stderr", r.stderrPath().toString()));
        }
        if (r.user() != null) {
            command.addAll(List.of("--user", Integer.toString(r.user().uid()), "--group", Integer.toString(r.user().gid())));
            if (!r.user().groups().isEmpty()) {
                command.addAll(List.of("--groups",
                        r.user().groups().stream().map(String::valueOf).collect(Collectors.joining(","))));
            }
            if (r.user().exclusive()) {
                command.add("--own-uid");
            }
        }
        for (PrivateDevice device : PrivateDevice.values()) {
            if (r.privateDevices().contains(device)) {
                command.addAll(List.of("--private-dev", device.path().toString()));
            }
        }
        for (CgroupJoin cgroup : r.cgroups()) {
            command.addAll(List.of(cgroup.owned() ? "--cgroup" : "--cgroup-join", cgroup.dir().toString()));
            for (CgroupJoin.Write write : cgroup.writes()) {
                command.addAll(List.of("--cgroup-write", cgroup.dir().resolve(write.file()) + "=" + write.value()));
            }
        }
        // Nomad's agent runs at -1000 (its systemd unit), which no OOM kill may pick; Nomad's executor resets it too.
        command.addAll(List.of("--oom-score-adj", "0"));
        if (r.networkNamespace() != null) {
            command.addAll(List.of("--netns", r.networkNamespace().toString()));
        }
        command.addAll(List.of("--chdir", r.workingDir().toString(), "--"));
        command.addAll(r.argv());
        return command;
    }

    /** No output path: the supervisor then keeps only the console tail (it never opens /dev/null for writing). */
    private static boolean discards(Path output) {
        return output == null || output.equals(NULL_DEVICE);
    }

    /** A run dir is reused across restarts of a task, but never while its supervisor still runs. */
    private static void prepareRunDir(Path dir) throws IOException {
        AtomicFiles.ensureDirectories(dir);
        // Following links: a no-follow check throws internally for a missing file (the common case); the run
        // directory is the plugin's own.
        if (!Files.exists(dir.resolve(RunDir.SUPERVISOR))) {
            return; // a supervisor writes that file first: without it, none ever ran here and nothing is left
        }
        Optional<ProcessIdentity> previous;
        try {
            previous = RunDir.readIdentity(dir.resolve(RunDir.SUPERVISOR));
        } catch (IOException e) {
            previous = Optional.empty();
        }
        if (previous.isPresent() && previous.get().isAlive()) {
            throw new IOException("its supervisor (pid " + previous.get().pid() + ") still runs");
        }
        // The supervisor's own file last: while it is there, the others may be too (see above).
        for (String name : List.of(RunDir.STATUS, RunDir.CONSOLE_TAIL, RunDir.TENDER, RunDir.SUPERVISOR)) {
            Files.deleteIfExists(dir.resolve(name));
        }
    }

    private String firstLine(SupervisorService.Launch launch, String tenderPath) throws LaunchException {
        try {
            return launch.report().get(startTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            stop(launch);
            throw new LaunchException("the tender " + tenderPath + " did not start within " + startTimeout
                    + " (opening a stdout/stderr FIFO blocks until a reader opens it)");
        } catch (InterruptedException e) {
            stop(launch);
            Thread.currentThread().interrupt();
            throw new LaunchException("interrupted while starting " + tenderPath, e);
        } catch (ExecutionException e) {
            throw new LaunchException("lost the supervisor while it started " + tenderPath + ": "
                    + e.getCause().getMessage(), e.getCause());
        }
    }

    /** TERM reaches the supervisor, which forwards it to a half-started tender, then exits. */
    private void stop(SupervisorService.Launch launch) {
        try {
            launch.exited().get(0, TimeUnit.MILLISECONDS);
            return;
        } catch (TimeoutException e) {
            // still running: terminate below
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (ExecutionException e) {
            return;
        }
        try {
            service.terminate(launch);
            launch.exited().get(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS);
        } catch (IOException e) {
            // the service ended: the supervisor runs on unheld, and its run dir tells what became of it
        } catch (TimeoutException e) {
            // It forwards TERM and waits for a tender that ignores it: the supervisor itself must go.
            if (launch.forked().isDone() && !launch.forked().isCompletedExceptionally()) {
                ProcessHandle.of(launch.forked().join().pid()).ifPresent(ProcessHandle::destroyForcibly);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException ignored) {
            // the service ended: nothing more to wait for
        }
    }

    private static String exitCodeSoon(SupervisorService.Launch launch) {
        try {
            return Integer.toString(launch.exited().get(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS));
        } catch (TimeoutException e) {
            return "still running";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        } catch (ExecutionException e) {
            return "unknown";
        }
    }

    private static String logDetail(Path dir) {
        String tail = RunDir.logTail(dir);
        return tail.isEmpty() ? "" : ": " + tail;
    }
}
