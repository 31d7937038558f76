package nomadmirage.proc;

import java.util.List;

/**
 * How a short host command ended; {@code timedOut} means it was killed at the deadline.
 * {@code truncated} means stdout or stderr went past the runner's output bound and was cut
 * there: the exit status is still the command's own, but the output is not all of it, so
 * nothing that must be exact (a listing to act on) may be parsed from it.
 */
public record CommandResult(List<String> argv, int exitCode, String stdout, String stderr, boolean timedOut,
        boolean truncated) {
    public CommandResult {
        argv = List.copyOf(argv);
    }

    /** A result whose output was kept whole. */
    public CommandResult(List<String> argv, int exitCode, String stdout, String stderr, boolean timedOut) {
        this(argv, exitCode, stdout, stderr, timedOut, false);
    }

    public boolean succeeded() {
        return !timedOut && exitCode == 0;
    }

    /** One line for logs and error messages: the command, its status and its stderr. */
    public String summary() {
        String status = (timedOut ? "timed out" : "exited " + exitCode) + (truncated ? " (output truncated)" : "");
        String err = stderr.strip();
        return String.join(" ", argv) + ": " + status + (err.isEmpty() ? "" : ": " + err);
    }
}
