package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * Where the integration tests find the real parts they run: the plugin
 * launcher, the Go plugin-probe, the Nomad agent and the test fixtures. The
 * README test command (scripts/test.sh) builds them and exports their paths.
 *
 * <p>Also what a test needs of the machine: {@link #require} skips a test whose
 * prerequisite is missing on a developer's machine, but fails it when the
 * {@code CI} environment variable is set, where a skip would hide that nothing
 * ran.
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

    /** A job file of the integration tests ({@code src/test/resources/jobs}). */
    public static Path job(String name) {
        return repo().resolve("src/test/resources/jobs").resolve(name);
    }

    /** The path of a fixture unikernel, which must have been built. */
    public static String image(String name) {
        Path image = fixtures().resolve("images").resolve(name);
        assertTrue(Files.isRegularFile(image), "missing fixture " + image);
        return image.toString();
    }

    /** True when the environment variable {@code CI} is set (to anything but the empty string). */
    public static boolean ci() {
        String ci = System.getenv("CI");
        return ci != null && !ci.isEmpty();
    }

    /**
     * Nothing when {@code present}; otherwise aborts the test (a skip) naming {@code missing}, or,
     * under {@link #ci() CI}, fails it: CI runs on a machine that has everything the tests need.
     */
    public static void require(boolean present, String missing) {
        require(present, missing, ci());
    }

    static void require(boolean present, String missing, boolean ci) {
        if (present) {
            return;
        }
        if (ci) {
            fail(missing + " (CI is set, so this fails instead of being skipped)");
        }
        Assumptions.abort(missing);
    }

    /** {@link #require Requires} an effective uid of 0; {@code missing} says what needs it. */
    public static void requireRoot(String missing) {
        require(effectiveUid() == 0, missing);
    }

    /** This JVM's effective uid, from /proc/self/status. */
    public static long effectiveUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Long.parseLong(line.substring(4).strip().split("\\s+")[1]);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new IllegalStateException("no Uid line in /proc/self/status");
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
