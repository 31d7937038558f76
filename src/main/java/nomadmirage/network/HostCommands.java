package nomadmirage.network;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/** Runs ip, iptables and sysctl through the plugin's command runner and turns failures into exceptions. */
final class HostCommands {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final CommandRunner runner;

    HostCommands(CommandRunner runner) {
        this.runner = runner;
    }

    /** Runs a command whose failure the caller interprets (e.g. "already exists"). */
    CommandResult attempt(String... argv) throws NetworkSetupException {
        try {
            return runner.run(List.of(argv), TIMEOUT);
        } catch (IOException e) {
            throw new NetworkSetupException("cannot run " + String.join(" ", argv) + ": " + e.getMessage(), e);
        }
    }

    /** Runs a command that must succeed; returns its stdout. */
    String require(String... argv) throws NetworkSetupException {
        CommandResult result = attempt(argv);
        if (!result.succeeded()) {
            throw failure(result);
        }
        return result.stdout();
    }

    static NetworkSetupException failure(CommandResult result) {
        return new NetworkSetupException("network command failed: " + result.summary());
    }
}
