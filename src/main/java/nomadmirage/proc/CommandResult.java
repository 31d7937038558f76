package nomadmirage.proc;

import java.util.List;

/** How a short host command ended; {@code timedOut} means it was killed at the deadline. */
public record CommandResult(List<String> argv, int exitCode, String stdout, String stderr, boolean timedOut) {
    public CommandResult {
        argv = List.copyOf(argv);
    }

    public boolean succeeded() {
        return !timedOut && exitCode == 0;
    }

    /** One line for logs and error messages: the command, its status and its stderr. */
    public String summary() {
        String status = timedOut ? "timed out" : "exited " + exitCode;
        String err = stderr.strip();
        return String.join(" ", argv) + ": " + status + (err.isEmpty() ? "" : ": " + err);
    }
}
