package nomadmirage.driver.harness;

import nomadmirage.proc.ExitStatus;

import java.time.Instant;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import nomadmirage.proc.LaunchException;
import nomadmirage.proc.LaunchRequest;
import nomadmirage.proc.SupervisedProcess;
import nomadmirage.proc.Supervisor;

/**
 * A supervisor that launches nothing: each launch is a {@link FakeTender}, and a marker file in the
 * run directory names it, so {@link #inspect} and {@link #attach} find it again from the run
 * directory alone — as the real one does after a plugin restart. It outlives plugin instances: a
 * harness keeps one for the whole "node".
 */
public final class FakeSupervisor implements Supervisor {
    static final String MARKER = "fake-supervisor";

    private final Journal journal;
    private final AtomicLong pids = new AtomicLong(1000);
    private final Map<Long, FakeTender> byPid = new ConcurrentHashMap<>();
    private final List<FakeTender> launched = new CopyOnWriteArrayList<>();
    private final AtomicReference<Exception> nextFailure = new AtomicReference<>();
    private volatile Consumer<LaunchRequest> beforeLaunch = r -> { };
    private volatile Consumer<FakeTender> afterLaunch = t -> { };

    public FakeSupervisor(Journal journal) {
        this.journal = journal;
    }

    /** The next launch fails with {@code failure} (a {@link LaunchException}, or a RuntimeException for a bug). */
    public void failNextLaunch(Exception failure) {
        if (!(failure instanceof LaunchException) && !(failure instanceof RuntimeException)) {
            throw new IllegalArgumentException("a launch fails with LaunchException or an unexpected RuntimeException");
        }
        nextFailure.set(failure);
    }

    /** Runs before every launch, with the request (e.g. to sabotage the run directory). */
    public void beforeLaunch(Consumer<LaunchRequest> hook) {
        this.beforeLaunch = hook;
    }

    /** Runs on every new tender before the driver sees it (e.g. to make it ignore SIGTERM). */
    public void afterLaunch(Consumer<FakeTender> hook) {
        this.afterLaunch = hook;
    }

    public List<FakeTender> launched() {
        return List.copyOf(launched);
    }

    public List<FakeTender> alive() {
        return launched.stream().filter(FakeTender::isAlive).toList();
    }

    public FakeTender last() {
        if (launched.isEmpty()) {
            throw new IllegalStateException("nothing was launched");
        }
        return launched.getLast();
    }

    /** The tender last launched for the task whose run directory is named {@code taskFileName}. */
    public Optional<FakeTender> tenderOf(String taskFileName) {
        return launched.reversed().stream().filter(t -> t.task().equals(taskFileName)).findFirst();
    }

    /** Ends every tender whatever it ignores (the node goes away at the end of a test). */
    public void vanishAll() {
        launched.forEach(FakeTender::vanish);
    }

    @Override
    public SupervisedProcess launch(LaunchRequest r) throws LaunchException {
        journal.add("supervisor.launch " + r.runDir().getFileName());
        beforeLaunch.accept(r);
        Exception failure = nextFailure.getAndSet(null);
        if (failure instanceof LaunchException e) {
            throw e;
        }
        if (failure instanceof RuntimeException e) {
            throw e;
        }
        long pid = pids.addAndGet(2);
        try {
            Files.createDirectories(r.runDir());
            Files.writeString(r.runDir().resolve(MARKER), "pid=" + pid + "\n");
        } catch (IOException e) {
            throw new LaunchException("cannot use run dir " + r.runDir() + ": " + e.getMessage(), e);
        }
        FakeTender tender = new FakeTender(pid, r.runDir(), r, journal);
        byPid.put(pid, tender);
        launched.add(tender);
        afterLaunch.accept(tender);
        return tender;
    }

    @Override
    public SupervisedProcess attach(Path runDir) throws IOException {
        FakeTender tender = recorded(runDir);
        journal.add("supervisor.attach " + tender);
        return tender;
    }

    @Override
    public RunDirState inspect(Path runDir) {
        try {
            return recorded(runDir).isAlive() ? RunDirState.RUNNING : RunDirState.ENDED;
        } catch (IOException e) {
            return RunDirState.NOT_STARTED;
        }
    }

    @Override
    public Optional<Instant> endedAt(Path runDir) {
        try {
            return Optional.ofNullable(recorded(runDir).exit().getNow(null)).map(ExitStatus::exitedAt);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private FakeTender recorded(Path runDir) throws IOException {
        Path marker = runDir.resolve(MARKER);
        if (!Files.isRegularFile(marker)) {
            throw new NoSuchFileException(marker.toString(), null, "no supervisor recorded: not a run dir");
        }
        String text = Files.readString(marker).strip();
        FakeTender tender = text.startsWith("pid=") ? byPid.get(Long.parseLong(text.substring(4))) : null;
        if (tender == null) {
            throw new IOException(runDir + ": the recorded supervisor is unknown to this node: " + text);
        }
        return tender;
    }
}
