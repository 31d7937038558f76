package nomadmirage.proc;

import java.util.Optional;

/**
 * A process as a pid plus its start time (field 22 of /proc/PID/stat, in clock ticks since
 * boot): a pid alone may name a different process once the original ended and the pid was
 * reused.
 */
public record ProcessIdentity(long pid, long startTicks) {
    public ProcessIdentity {
        if (pid <= 0 || startTicks < 0) {
            throw new IllegalArgumentException("invalid process identity " + pid + "@" + startTicks);
        }
    }

    /** The process running as {@code pid} now; empty when there is none or it is a zombie. */
    public static Optional<ProcessIdentity> current(long pid) {
        return StatLine.read(pid).filter(s -> !s.ended()).map(s -> new ProcessIdentity(pid, s.startTicks()));
    }

    /** Whether this very process still runs: same pid, same start time, not a zombie. */
    public boolean isAlive() {
        return StatLine.read(pid).map(s -> !s.ended() && s.startTicks() == startTicks).orElse(false);
    }

    @Override
    public String toString() {
        return pid + "@" + startTicks;
    }
}
