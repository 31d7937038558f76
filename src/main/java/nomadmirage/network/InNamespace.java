package nomadmirage.network;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/** Runs commands inside the network namespace at {@code path} ({@code nsenter --net=PATH}), through another runner. */
final class InNamespace implements CommandRunner {
    private final CommandRunner runner;
    private final Path path;

    InNamespace(CommandRunner runner, Path path) {
        this.runner = runner;
        this.path = path;
    }

    @Override
    public CommandResult run(List<String> argv, Duration timeout) throws IOException {
        return runner.run(prefixed(argv), timeout);
    }

    @Override
    public CommandResult run(List<String> argv, Duration timeout, int maxOutputBytes) throws IOException {
        return runner.run(prefixed(argv), timeout, maxOutputBytes);
    }

    private List<String> prefixed(List<String> argv) {
        List<String> all = new ArrayList<>(List.of("nsenter", "--net=" + path));
        all.addAll(argv);
        return all;
    }
}
