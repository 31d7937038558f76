package nomadmirage.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import nomadmirage.testing.NomadAgent;
import nomadmirage.testing.NomadAgent.Result;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaging step runs as root on build machines: it must not replace a device node. (Given
 * {@code -XX:AOTCacheOutput=/dev/null}, a JVM running as root renames a regular file over
 * {@code /dev/null}, and every later {@code >/dev/null} on the machine writes to that file.)
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class BuildLeavesDevicesIntactIT {
    private static final int S_IFMT = 0170000;
    private static final int S_IFCHR = 0020000;

    @TempDir
    Path target;

    @Test
    void assemblingTheReleaseLeavesDevNullACharacterDevice() throws Exception {
        assertNullDevice("before the build step");
        Path built = TestEnv.repo().resolve("target");
        String version = System.getProperty("mirage.version", "0.1.0");
        String jar = "nomad-driver-mirage-" + version + ".jar";
        run(List.of("cp", "-a", built.resolve("lib").toString(), built.resolve(jar).toString(), target.toString()));

        Result assemble = NomadAgent.run(List.of("bash", TestEnv.repo().resolve("scripts/assemble-launcher.sh").toString(),
                target.toString(), jar, version), Duration.ofMinutes(2));
        assertTrue(assemble.ok(), assemble.toString());

        assertNullDevice("after the build step");
        Path libexec = target.resolve("nomad-driver-mirage-" + version + "/libexec");
        assertTrue(Files.isRegularFile(libexec.resolve("app.aot")), "the AOT training run produced no cache");
        assertTrue(Files.isRegularFile(target.resolve("nomad-driver-mirage-" + version + "-linux-amd64.tar.gz")));
    }

    private static void assertNullDevice(String when) throws Exception {
        Path devNull = Path.of("/dev/null");
        int mode = (Integer) Files.getAttribute(devNull, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        long rdev = (Long) Files.getAttribute(devNull, "unix:rdev", LinkOption.NOFOLLOW_LINKS);
        assertEquals(S_IFCHR, mode & S_IFMT, "/dev/null is not a character device " + when);
        assertEquals(List.of(1L, 3L), List.of(rdev >> 8 & 0xfff, rdev & 0xff), "/dev/null is not device 1,3 " + when);
    }

    private static void run(List<String> argv) throws Exception {
        Result result = NomadAgent.run(argv, Duration.ofSeconds(60));
        assertTrue(result.ok(), result.toString());
    }
}
