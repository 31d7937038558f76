package nomadmirage.proc;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/** Runs a short host command to completion (ip, iptables, a tender's --version). */
public interface CommandRunner {
    /** How much of each of stdout and stderr {@link #run(List, Duration)} keeps (1 MiB). */
    int DEFAULT_MAX_OUTPUT_BYTES = 1 << 20;

    /**
     * Runs {@code argv} (no shell) and collects its output, each stream up to
     * {@link #DEFAULT_MAX_OUTPUT_BYTES}; beyond that the result is marked truncated.
     *
     * @throws IOException when the command cannot be started at all
     */
    CommandResult run(List<String> argv, Duration timeout) throws IOException;

    /**
     * Like {@link #run(List, Duration)}, keeping up to {@code maxOutputBytes} of each stream, for
     * listings that grow with the node (iptables chains). A runner that wraps another (to add a
     * prefix such as {@code ip netns exec}) must pass this on; this default keeps the default
     * bound, so a listing larger than that comes back marked truncated rather than cut silently.
     */
    default CommandResult run(List<String> argv, Duration timeout, int maxOutputBytes) throws IOException {
        return run(argv, timeout);
    }
}
