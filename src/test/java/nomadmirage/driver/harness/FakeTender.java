package nomadmirage.driver.harness;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import nomadmirage.proc.ExitStatus;
import nomadmirage.proc.LaunchRequest;
import nomadmirage.proc.ProcessIdentity;
import nomadmirage.proc.ProcessSample;
import nomadmirage.proc.Signals;
import nomadmirage.proc.SupervisedProcess;

/**
 * A tender that runs nowhere: it ends when the test says so ({@link #exit}) or when a fatal signal
 * reaches it, records every signal it receives, and can be told to ignore SIGTERM or even SIGKILL.
 * Its end is reported on another thread (as the real supervisor's is), after {@link #exitDelay}.
 */
public final class FakeTender implements SupervisedProcess {
    /** Signals that do not end it (a tender handles or ignores these). */
    private static final Set<Integer> NON_FATAL = Set.of(Signals.SIGUSR1, Signals.SIGUSR2, 17, Signals.SIGCONT,
            Signals.SIGSTOP, 20, 21, 22, 23, 28);

    private final ProcessIdentity tender;
    private final ProcessIdentity supervisor;
    private final Path runDir;
    private final LaunchRequest request;
    private final Journal journal;
    private final CompletableFuture<ExitStatus> exit = new CompletableFuture<>();
    private final List<Received> signals = new ArrayList<>();
    private final Set<Integer> ignored = ConcurrentHashMap.newKeySet();
    private final AtomicLong cpuTicks = new AtomicLong();
    private volatile Duration exitDelay = Duration.ZERO;
    private volatile RuntimeException signalFailure;
    private boolean dying;

    /** A signal as it arrived: its number and {@link System#nanoTime()} then. */
    public record Received(int signo, long atNanos) {
    }

    FakeTender(long pid, Path runDir, LaunchRequest request, Journal journal) {
        this.tender = new ProcessIdentity(pid, 1000 + pid);
        this.supervisor = new ProcessIdentity(pid - 1, 1000 + pid);
        this.runDir = runDir;
        this.request = request;
        this.journal = journal;
    }

    /** The run directory's name: the task's file-name-safe id. */
    public String task() {
        return runDir.getFileName().toString();
    }

    public long pid() {
        return tender.pid();
    }

    public LaunchRequest request() {
        return request;
    }

    /** Every signal received while alive, in order. */
    public List<Integer> signals() {
        synchronized (this) {
            return signals.stream().map(Received::signo).toList();
        }
    }

    /** Every signal received while alive, in order, with when it arrived. */
    public List<Received> received() {
        synchronized (this) {
            return List.copyOf(signals);
        }
    }

    /** Makes {@code signo} have no effect (it is still recorded). {@code SIGKILL} makes the tender unkillable. */
    public FakeTender ignore(int signo) {
        ignored.add(signo);
        return this;
    }

    /** How long after a fatal signal or {@link #exit} the end is reported. */
    public FakeTender exitDelay(Duration delay) {
        this.exitDelay = delay;
        return this;
    }

    /** Makes every later {@link #signal} throw {@code failure} (a bug in the process layer). */
    public FakeTender failSignals(RuntimeException failure) {
        this.signalFailure = failure;
        return this;
    }

    /** The unikernel ends by itself with {@code code}. */
    public void exit(int code) {
        synchronized (this) {
            if (dying || exit.isDone()) {
                return;
            }
            dying = true;
        }
        end(new ExitStatus(code, 0, false, Instant.now(), null));
    }

    /** Ends it whatever it ignores (test clean-up: the "machine" goes away). */
    public void vanish() {
        synchronized (this) {
            dying = true;
        }
        if (!exit.isDone()) {
            exit.complete(new ExitStatus(128 + Signals.SIGKILL, Signals.SIGKILL, false, Instant.now(), null));
        }
    }

    /** Blocks until the end was reported; false on timeout. */
    public boolean awaitExit(Duration timeout) {
        try {
            exit.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (java.util.concurrent.ExecutionException e) {
            return true;
        }
    }

    @Override
    public ProcessIdentity tender() {
        return tender;
    }

    @Override
    public ProcessIdentity supervisor() {
        return supervisor;
    }

    @Override
    public Path runDir() {
        return runDir;
    }

    @Override
    public CompletableFuture<ExitStatus> exit() {
        return exit;
    }

    @Override
    public boolean signal(int signo) {
        RuntimeException failure = signalFailure;
        if (failure != null) {
            throw failure;
        }
        synchronized (this) {
            if (exit.isDone()) {
                journal.add("signal " + this + " " + Signals.name(signo) + " (gone)");
                return false;
            }
            signals.add(new Received(signo, System.nanoTime()));
            journal.add("signal " + this + " " + Signals.name(signo));
            if (ignored.contains(signo) || NON_FATAL.contains(signo) || dying) {
                return true;
            }
            dying = true;
        }
        end(new ExitStatus(128 + signo, signo, false, Instant.now(), null));
        return true;
    }

    @Override
    public boolean isAlive() {
        return !exit.isDone();
    }

    @Override
    public Optional<ProcessSample> sample() {
        return isAlive() ? Optional.of(new ProcessSample(cpuTicks.addAndGet(3), 48L << 20, Instant.now()))
                : Optional.empty();
    }

    private void end(ExitStatus status) {
        Duration delay = exitDelay;
        Executor executor = delay.isZero() ? r -> Thread.ofVirtual().start(r)
                : CompletableFuture.delayedExecutor(delay.toMillis(), TimeUnit.MILLISECONDS);
        executor.execute(() -> {
            journal.add("exit " + this + (status.signal() != 0 ? " by " + Signals.name(status.signal())
                    : " with " + status.exitCode()));
            recordStatus(status);
            exit.complete(status);
        });
    }

    /** As the real supervisor does, a "status" file in the run directory once the tender ended (when the directory is still there). */
    private void recordStatus(ExitStatus status) {
        try {
            java.nio.file.Files.writeString(runDir.resolve("status"), "exit_code=" + status.exitCode() + "\nsignal="
                    + status.signal() + "\n");
        } catch (java.io.IOException gone) {
            // the run directory was removed meanwhile
        }
    }

    @Override
    public String toString() {
        return "pid " + tender.pid() + " (" + task() + ")";
    }
}
