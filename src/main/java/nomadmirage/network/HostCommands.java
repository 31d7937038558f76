package nomadmirage.network;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/**
 * Runs ip, iptables and sysctl through the plugin's command runner and turns failures into
 * exceptions. Output that was truncated is never handed on to be parsed: a listing missing its
 * end would make a deletion report success while leaving rules (or taps) behind.
 */
final class HostCommands {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    /**
     * Bound on one listing that grows with the node (one of our iptables chains, our taps):
     * 64 MiB is some 300,000 rules of ours in one chain. A larger listing fails loudly.
     */
    static final int LISTING_MAX_OUTPUT_BYTES = 64 << 20;

    private final CommandRunner runner;

    HostCommands(CommandRunner runner) {
        this.runner = runner;
    }

    /** Runs a command whose failure the caller interprets (e.g. "already exists"). */
    CommandResult attempt(String... argv) throws NetworkSetupException {
        try {
            return runner.run(List.of(argv), TIMEOUT);
        } catch (IOException e) {
            throw cannotRun(argv, e);
        }
    }

    /** Like {@link #attempt}, for a listing: output is kept up to {@link #LISTING_MAX_OUTPUT_BYTES}. */
    CommandResult attemptListing(String... argv) throws NetworkSetupException {
        try {
            return runner.run(List.of(argv), TIMEOUT, LISTING_MAX_OUTPUT_BYTES);
        } catch (IOException e) {
            throw cannotRun(argv, e);
        }
    }

    /** Runs a command that must succeed; returns its stdout, which must be whole. */
    String require(String... argv) throws NetworkSetupException {
        return whole(attempt(argv));
    }

    /** Runs a listing that must succeed; returns its stdout, which must be whole. */
    String list(String... argv) throws NetworkSetupException {
        return whole(attemptListing(argv));
    }

    /** The stdout of a command that succeeded and whose output was not cut; else the failure. */
    static String whole(CommandResult result) throws NetworkSetupException {
        if (!result.succeeded()) {
            throw failure(result);
        }
        if (result.truncated()) {
            throw truncated(result);
        }
        return result.stdout();
    }

    static NetworkSetupException failure(CommandResult result) {
        return new NetworkSetupException("network command failed: " + result.summary());
    }

    static NetworkSetupException truncated(CommandResult result) {
        return new NetworkSetupException("network command printed more than the command runner keeps; refusing to act"
                + " on a partial listing: " + result.summary());
    }

    private static NetworkSetupException cannotRun(String[] argv, IOException e) {
        return new NetworkSetupException("cannot run " + String.join(" ", argv) + ": " + e.getMessage(), e);
    }
}
