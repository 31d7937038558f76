package nomadmirage.proc;

import java.time.Instant;

/**
 * How a supervised tender ended. Killed by a signal: {@code signal} is its number and
 * {@code exitCode} is 128 + signal (as shells and Nomad report it).
 *
 * @param failure null, or why the supervisor could not run the tender or learn how it ended
 *     (exec failed, supervisor lost); {@code exitCode} is then 127 for a failed exec, else -1
 * @param consoleTail the last lines the tender wrote to stdout and stderr (at most 20 lines,
 *     2 KiB, as the supervisor kept them: unfiltered, so it may hold control characters); empty
 *     when there is none, e.g. the supervisor was lost or the exec failed
 */
public record ExitStatus(int exitCode, int signal, boolean coreDumped, Instant exitedAt, String failure,
        String consoleTail) {
    public ExitStatus {
        consoleTail = consoleTail == null ? "" : consoleTail;
    }

    /** Without a console tail. */
    public ExitStatus(int exitCode, int signal, boolean coreDumped, Instant exitedAt, String failure) {
        this(exitCode, signal, coreDumped, exitedAt, failure, "");
    }

    public static ExitStatus unknown(String failure) {
        return new ExitStatus(-1, 0, false, Instant.now(), failure);
    }

    public ExitStatus withConsoleTail(String tail) {
        return new ExitStatus(exitCode, signal, coreDumped, exitedAt, failure, tail);
    }

    public boolean succeeded() {
        return failure == null && signal == 0 && exitCode == 0;
    }
}
