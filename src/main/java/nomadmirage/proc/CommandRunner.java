package nomadmirage.proc;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/** Runs a short host command to completion (ip, iptables, a tender's --version). */
public interface CommandRunner {
    /**
     * Runs {@code argv} (no shell) and collects its output.
     *
     * @throws IOException when the command cannot be started at all
     */
    CommandResult run(List<String> argv, Duration timeout) throws IOException;
}
