package nomadmirage.proc;

import java.util.Optional;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/** A tender and the supervisor process watching it. */
public interface SupervisedProcess {
    ProcessIdentity tender();

    ProcessIdentity supervisor();

    Path runDir();

    /** Completes (never exceptionally) once the tender ended and the supervisor recorded it or was lost. */
    CompletableFuture<ExitStatus> exit();

    /** Sends {@code signo} to the tender; false when the tender is gone (a reused pid is never signalled). */
    boolean signal(int signo) throws IOException;

    boolean isAlive();

    /** CPU time and memory of the tender now; empty once it is gone (checked by identity, never by bare pid). */
    default Optional<ProcessSample> sample() {
        return ProcStats.sample(tender());
    }
}
