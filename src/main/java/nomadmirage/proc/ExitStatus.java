package nomadmirage.proc;

import java.time.Instant;

/**
 * How a supervised tender ended. Killed by a signal: {@code signal} is its number and
 * {@code exitCode} is 128 + signal (as shells and Nomad report it).
 *
 * @param failure null, or why the supervisor could not run the tender or learn how it ended
 *     (exec failed, supervisor lost); {@code exitCode} is then 127 for a failed exec, else -1
 */
public record ExitStatus(int exitCode, int signal, boolean coreDumped, Instant exitedAt, String failure) {
    public static ExitStatus unknown(String failure) {
        return new ExitStatus(-1, 0, false, Instant.now(), failure);
    }

    public boolean succeeded() {
        return failure == null && signal == 0 && exitCode == 0;
    }
}
