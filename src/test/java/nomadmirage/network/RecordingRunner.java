package nomadmirage.network;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/**
 * Records every argv; answers from canned results keyed by the joined argv's prefix (first
 * match in the order given), success otherwise. {@link #bounds} has the output bound of each
 * command run through the bounded overload.
 */
final class RecordingRunner implements CommandRunner {
    final List<String> commands = new ArrayList<>();
    final Map<String, Integer> bounds = new LinkedHashMap<>();
    private final Map<String, CommandResult> answers = new LinkedHashMap<>();

    RecordingRunner answer(String argvPrefix, int exitCode, String stdout, String stderr) {
        answers.put(argvPrefix, new CommandResult(List.of(argvPrefix), exitCode, stdout, stderr, false));
        return this;
    }

    /** A command that succeeds but printed more than the runner kept. */
    RecordingRunner answerTruncated(String argvPrefix, String stdout) {
        answers.put(argvPrefix, new CommandResult(List.of(argvPrefix), 0, stdout, "", false, true));
        return this;
    }

    @Override
    public synchronized CommandResult run(List<String> argv, Duration timeout) {
        String joined = String.join(" ", argv);
        commands.add(joined);
        for (Map.Entry<String, CommandResult> answer : answers.entrySet()) {
            if (joined.startsWith(answer.getKey())) {
                CommandResult r = answer.getValue();
                return new CommandResult(argv, r.exitCode(), r.stdout(), r.stderr(), false, r.truncated());
            }
        }
        return new CommandResult(argv, 0, "", "", false);
    }

    @Override
    public synchronized CommandResult run(List<String> argv, Duration timeout, int maxOutputBytes) {
        bounds.put(String.join(" ", argv), maxOutputBytes);
        return run(argv, timeout);
    }
}
