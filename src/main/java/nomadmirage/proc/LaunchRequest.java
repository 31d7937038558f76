package nomadmirage.proc;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What to supervise. {@code argv[0]} is executed as given (no PATH search), relative to
 * {@code workingDir} when not absolute; the tender sees exactly {@code environment}.
 * The tender's stdout and stderr are pipes to its supervisor, which copies them to
 * {@code stdoutPath}/{@code stderrPath} and keeps their last lines as the console tail
 * ({@link ExitStatus#consoleTail()}). A path may be null or /dev/null (the output is then only
 * kept in the tail); otherwise it must be a FIFO or a regular file, never a symlink, and a
 * missing one becomes a new regular file. The supervisor opens them as its own user, and
 * starts the tender once a FIFO has a reader.
 *
 * @param user null to run the tender as the plugin's own user
 */
public record LaunchRequest(List<String> argv, Map<String, String> environment, Path workingDir,
        Path stdoutPath, Path stderrPath, Path runDir, TaskUser user) {
    public LaunchRequest {
        argv = List.copyOf(argv);
        if (argv.isEmpty() || argv.getFirst().isEmpty()) {
            throw new IllegalArgumentException("argv needs a tender path");
        }
        for (String arg : argv) {
            if (arg.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("NUL in argument: " + arg);
            }
        }
        environment = Map.copyOf(environment);
        environment.forEach((name, value) -> {
            if (name.isEmpty() || name.indexOf('=') >= 0 || name.indexOf('\0') >= 0 || value.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("invalid environment variable " + name);
            }
        });
        Objects.requireNonNull(workingDir, "workingDir");
        Objects.requireNonNull(runDir, "runDir");
    }
}
