package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Runs the Go plugin-probe, which launches the plugin through the real
 * go-plugin client and Nomad's plugin client packages, and returns its JSON.
 */
public final class Probe {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Probe() {
    }

    public static JsonNode run(String scenario, String... flags) throws IOException, InterruptedException {
        return run(scenario, line -> { }, flags);
    }

    /** As {@link #run(String, String...)}, handing each stderr line (plugin logs included) to {@code onLogLine}. */
    public static JsonNode run(String scenario, Consumer<String> onLogLine, String... flags)
            throws IOException, InterruptedException {
        return run(TestEnv.launcher(), scenario, onLogLine, flags);
    }

    /**
     * As {@link #run(String, Consumer, String...)} with another plugin executable (e.g. a wrapper around the
     * launcher). The probe and the plugins it launches get a TMPDIR of their own, removed afterwards with the
     * socket directories of plugins the scenario SIGKILLed; a probe that overruns is killed with its plugins.
     */
    public static JsonNode run(Path plugin, String scenario, Consumer<String> onLogLine, String... flags)
            throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of(TestEnv.probe().toString(),
                "-plugin", plugin.toString(), "-include-log=false"));
        argv.addAll(List.of(flags));
        argv.add(scenario);
        try (ScratchDir tmp = ScratchDir.create("mirage-probe-")) {
            Path out = tmp.path().resolve("probe.json");
            ProcessBuilder builder = new ProcessBuilder(argv)
                    .redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            builder.environment().put("TMPDIR", tmp.toString());
            Process process = builder.start();
            StringBuilder stderr = new StringBuilder();
            Thread reader = Thread.ofPlatform().start(() -> {
                try (var lines = process.errorReader(StandardCharsets.UTF_8)) {
                    lines.lines().forEach(line -> {
                        stderr.append(line).append('\n');
                        onLogLine.accept(line);
                    });
                } catch (IOException ignored) {
                    // process ended
                }
            });
            try {
                assertTrue(process.waitFor(180, TimeUnit.SECONDS), "plugin-probe did not finish");
            } finally {
                if (process.isAlive()) {
                    process.children().forEach(ProcessHandle::destroyForcibly); // the plugins it launched
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            }
            reader.join();
            assertEquals(0, process.exitValue(), "plugin-probe failed:\n" + Files.readString(out) + "\n" + stderr);
            return JSON.readTree(out.toFile());
        }
    }

    /** The JSON text of an agent-side plugin config block. */
    public static String config(Object... keyValues) {
        var node = JSON.createObjectNode();
        for (int i = 0; i < keyValues.length; i += 2) {
            node.set((String) keyValues[i], JSON.valueToTree(keyValues[i + 1]));
        }
        return node.toString();
    }
}
