package nomadmirage.network;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/** Records every argv; answers from canned results keyed by the joined argv's prefix, success otherwise. */
final class RecordingRunner implements CommandRunner {
    final List<String> commands = new ArrayList<>();
    private final Map<String, CommandResult> answers = new LinkedHashMap<>();

    RecordingRunner answer(String argvPrefix, int exitCode, String stdout, String stderr) {
        answers.put(argvPrefix, new CommandResult(List.of(argvPrefix), exitCode, stdout, stderr, false));
        return this;
    }

    @Override
    public synchronized CommandResult run(List<String> argv, Duration timeout) {
        String joined = String.join(" ", argv);
        commands.add(joined);
        for (Map.Entry<String, CommandResult> answer : answers.entrySet()) {
            if (joined.startsWith(answer.getKey())) {
                CommandResult r = answer.getValue();
                return new CommandResult(argv, r.exitCode(), r.stdout(), r.stderr(), false);
            }
        }
        return new CommandResult(argv, 0, "", "", false);
    }
}
