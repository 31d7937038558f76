package nomadmirage.proc;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A tender under a mirage-supervisor. Signals are sent by the supervisor service, which holds a
 * pidfd while it checks the start time: ProcessHandle.destroy only knows TERM and KILL, and kill(2)
 * by pid would leave a window in which the pid could be reused.
 */
final class NativeSupervisedProcess implements SupervisedProcess {
    static final String BOTH_GONE = "supervisor and tender are gone; exit status unknown";
    private static final Duration SIGNAL_TIMEOUT = Duration.ofSeconds(10);
    private static final int EXIT_GONE = 3;

    private final SupervisorService service;
    private final Path runDir;
    private final ProcessIdentity tender;
    private final ProcessIdentity supervisor;
    private final CompletableFuture<ExitStatus> exit;

    /** @param supervisorGone completes when the supervisor process has ended (already done if it had) */
    NativeSupervisedProcess(SupervisorService service, Path runDir, ProcessIdentity tender,
            ProcessIdentity supervisor, CompletableFuture<?> supervisorGone) {
        this.service = service;
        this.runDir = runDir;
        this.tender = tender;
        this.supervisor = supervisor;
        this.exit = supervisorGone.handle((ignored, error) -> null).thenCompose(ignored -> afterSupervisor());
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
        return exit.copy();
    }

    @Override
    public boolean isAlive() {
        return tender.isAlive();
    }

    @Override
    public boolean signal(int signo) throws IOException {
        if (signo < 1 || signo > 64) {
            throw new IllegalArgumentException("no signal number " + signo);
        }
        if (!tender.isAlive()) {
            return false;
        }
        int result;
        try {
            result = service.signal(signo, tender).get(SIGNAL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new IOException("sending " + Signals.name(signo) + " to tender " + tender + " failed: "
                    + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("sending " + Signals.name(signo) + " to tender " + tender + " timed out");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while sending " + Signals.name(signo) + " to tender " + tender, e);
        }
        if (result == 0) {
            return true;
        }
        if (result == EXIT_GONE) {
            return false;
        }
        throw new IOException("sending " + Signals.name(signo) + " to tender " + tender + " failed (see the supervisor "
                + "service)");
    }

    /** The supervisor writes the status before it exits, so it is there unless the supervisor was killed. */
    private CompletableFuture<ExitStatus> afterSupervisor() {
        Optional<ExitStatus> status;
        try {
            status = RunDir.readStatus(runDir);
        } catch (IOException e) {
            return CompletableFuture.completedFuture(ExitStatus.unknown("cannot read the exit status: " + e.getMessage()));
        }
        if (status.isPresent()) {
            return CompletableFuture.completedFuture(status.get());
        }
        Optional<ProcessHandle> handle = ProcessHandle.of(tender.pid());
        if (handle.isPresent() && tender.isAlive()) {
            return handle.get().onExit().handle((ignored, error) -> ExitStatus.unknown("the supervisor (pid "
                    + supervisor.pid() + ") was lost and the tender ended unsupervised; exit status unknown"));
        }
        return CompletableFuture.completedFuture(ExitStatus.unknown(BOTH_GONE));
    }

    @Override
    public String toString() {
        return "tender " + tender + " under supervisor " + supervisor + " in " + runDir;
    }
}
