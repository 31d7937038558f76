package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the integration tests find the real parts they run: the plugin
 * launcher, the Go plugin-probe, the Nomad agent and the test fixtures. The
 * README test command (scripts/test.sh) builds them and exports their paths.
 */
public final class TestEnv {
    private TestEnv() {
    }

    public static Path repo() {
        return Path.of(System.getProperty("mirage.basedir", System.getProperty("user.dir"))).toAbsolutePath();
    }

    public static Path launcher() {
        return existing(System.getProperty("mirage.launcher", repo().resolve("target/nomad-driver-mirage").toString()),
                "the plugin launcher (run ./mvnw package)");
    }

    public static Path probe() {
        return existing(env("MIRAGE_PROBE", repo().resolve("target/testbed/plugin-probe").toString()),
                "the Go plugin-probe (run scripts/test.sh, which builds it)");
    }

    public static Path devAgentScript() {
        return existing(repo().resolve("scripts/dev-agent.sh").toString(), "scripts/dev-agent.sh");
    }

    public static Path fixtures() {
        return existing(env("MIRAGE_FIXTURES", repo().resolve("target/fixtures").toString()),
                "the test fixtures (scripts/build-test-fixtures.sh target/fixtures)");
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    private static Path existing(String path, String what) {
        Path p = Path.of(path);
        assertTrue(Files.exists(p), "missing " + what + " at " + p);
        return p;
    }
}
