package nomadmirage.proc;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
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
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;

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
    private final CommandRunner runner;

    public NativeSupervisor(Path binary) {
        this(binary, DEFAULT_START_TIMEOUT);
    }

    /** @param startTimeout how long opening the output FIFOs and exec'ing the tender may take */
    public NativeSupervisor(Path binary, Duration startTimeout) {
        this(binary, startTimeout, new ProcessCommandRunner());
    }

    NativeSupervisor(Path binary, Duration startTimeout, CommandRunner runner) {
        this.binary = binary.toAbsolutePath();
        this.startTimeout = startTimeout;
        this.runner = runner;
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
        ProcessBuilder builder = new ProcessBuilder(command(r, dir))
                .directory(new File("/"))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve(RunDir.LOG).toFile()));
        builder.environment().clear();
        builder.environment().putAll(LaunchRequest.TENDER_ENVIRONMENT);
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new LaunchException("cannot run the supervisor " + binary + " for " + tenderPath + ": " + e.getMessage(), e);
        }

        String line = firstLine(process, tenderPath);
        if (line == null) {
            throw new LaunchException("the supervisor " + binary + " ended (exit " + exitCodeSoon(process)
                    + ") before starting " + tenderPath + logDetail(dir));
        }
        String[] words = line.split(" ", 3);
        switch (words[0]) {
            case "started" -> {
                return started(process, dir, tenderPath, words);
            }
            case "exec-failed" -> {
                exitCodeSoon(process);
                int errno = words.length > 1 && words[1].matches("\\d{1,4}") ? Integer.parseInt(words[1]) : 0;
                String message = words.length > 2 ? words[2] : line;
                throw new LaunchException("cannot start tender " + tenderPath + ": " + message + " (errno " + errno + ")",
                        errno, null);
            }
            case "error" -> {
                exitCodeSoon(process);
                throw new LaunchException("the supervisor could not start " + tenderPath + ": "
                        + line.substring("error".length()).strip());
            }
            default -> {
                stop(process);
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
                ? watch(supervisor, handle.get())
                : CompletableFuture.completedFuture(null);
        return new NativeSupervisedProcess(binary, runner, dir, tender.get(), supervisor, supervisorGone);
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
     * The exit of a supervisor this JVM did not start. The JDK polls such a
     * process (up to seconds late); a "--watch" child that waits on a pidfd
     * ends the moment it does, and a child's exit is seen at once.
     */
    private CompletableFuture<?> watch(ProcessIdentity supervisor, ProcessHandle fallback) {
        try {
            Process watcher = new ProcessBuilder(binary.toString(), "--watch", "--pid", Long.toString(supervisor.pid()),
                    "--start-ticks", Long.toString(supervisor.startTicks()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            return watcher.onExit();
        } catch (IOException e) {
            return fallback.onExit();
        }
    }

    private SupervisedProcess started(Process process, Path dir, String tenderPath, String[] words)
            throws LaunchException {
        ProcessIdentity tender;
        Optional<ProcessIdentity> supervisor;
        try {
            tender = new ProcessIdentity(Long.parseLong(words[1]), Long.parseLong(words[2]));
            supervisor = RunDir.readIdentity(dir.resolve(RunDir.SUPERVISOR));
        } catch (IOException | RuntimeException e) {
            stop(process);
            throw new LaunchException("the supervisor started " + tenderPath + " but its records are unreadable: "
                    + e.getMessage(), e);
        }
        if (supervisor.isEmpty() || supervisor.get().pid() != process.pid()) {
            stop(process);
            throw new LaunchException("the supervisor started " + tenderPath + " but recorded no identity of its own in "
                    + dir);
        }
        return new NativeSupervisedProcess(binary, runner, dir, tender, supervisor.get(), process.onExit());
    }

    private List<String> command(LaunchRequest r, Path dir) {
        List<String> command = new ArrayList<>(List.of(binary.toString(), "--run-dir", dir.toString()));
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
        Files.createDirectories(dir);
        Optional<ProcessIdentity> previous;
        try {
            previous = RunDir.readIdentity(dir.resolve(RunDir.SUPERVISOR));
        } catch (IOException e) {
            previous = Optional.empty();
        }
        if (previous.isPresent() && previous.get().isAlive()) {
            throw new IOException("its supervisor (pid " + previous.get().pid() + ") still runs");
        }
        for (String name : List.of(RunDir.SUPERVISOR, RunDir.TENDER, RunDir.CONSOLE_TAIL, RunDir.STATUS)) {
            Files.deleteIfExists(dir.resolve(name));
        }
    }

    private String firstLine(Process process, String tenderPath) throws LaunchException {
        FutureTask<String> read = new FutureTask<>(() -> {
            try (BufferedReader reader = process.inputReader(StandardCharsets.UTF_8)) {
                String line = reader.readLine();
                // EOF follows once the supervisor moved its stdout to its log: then it holds no pipe to us.
                while (reader.read() >= 0) {
                    // nothing else is expected
                }
                return line;
            }
        });
        Thread.ofVirtual().name("mirage-supervisor-start-" + process.pid()).start(read);
        try {
            return read.get(startTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            stop(process);
            throw new LaunchException("the tender " + tenderPath + " did not start within " + startTimeout
                    + " (opening a stdout/stderr FIFO blocks until a reader opens it)");
        } catch (InterruptedException e) {
            stop(process);
            Thread.currentThread().interrupt();
            throw new LaunchException("interrupted while starting " + tenderPath, e);
        } catch (ExecutionException e) {
            stop(process);
            throw new LaunchException("reading the supervisor's output for " + tenderPath + " failed: "
                    + e.getCause().getMessage(), e.getCause());
        }
    }

    /** TERM reaches the supervisor, which forwards it to a half-started tender, then exits. */
    private static void stop(Process process) {
        process.destroy();
        try {
            if (!process.waitFor(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static String exitCodeSoon(Process process) {
        try {
            return process.waitFor(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS)
                    ? Integer.toString(process.exitValue()) : "still running";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    private static String logDetail(Path dir) {
        String tail = RunDir.logTail(dir);
        return tail.isEmpty() ? "" : ": " + tail;
    }
}
