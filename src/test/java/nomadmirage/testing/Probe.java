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

    /** As {@link #run(String, Consumer, String...)} with another plugin executable (e.g. a wrapper around the launcher). */
    public static JsonNode run(Path plugin, String scenario, Consumer<String> onLogLine, String... flags)
            throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of(TestEnv.probe().toString(),
                "-plugin", plugin.toString(), "-include-log=false"));
        argv.addAll(List.of(flags));
        argv.add(scenario);
        Path out = Files.createTempFile("probe", ".json");
        try {
            Process process = new ProcessBuilder(argv)
                    .redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
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
            assertTrue(process.waitFor(180, TimeUnit.SECONDS), "plugin-probe did not finish");
            reader.join();
            assertEquals(0, process.exitValue(), "plugin-probe failed:\n" + Files.readString(out) + "\n" + stderr);
            return JSON.readTree(out.toFile());
        } finally {
            Files.deleteIfExists(out);
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
