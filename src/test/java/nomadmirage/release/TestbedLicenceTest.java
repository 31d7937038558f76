package nomadmirage.release;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.Test;

/**
 * Nomad is BUSL-licensed from v1.7.0 on, and so are patch releases of older
 * lines cut after the licence change; v1.6.3 is the last MPL-2.0 release. The
 * test bed must resolve no other version of Nomad or of its api module.
 */
class TestbedLicenceTest {
    static final String NOMAD = "github.com/hashicorp/nomad";
    static final String NOMAD_API = "github.com/hashicorp/nomad/api";
    static final String ALLOWED_NOMAD = "v1.6.3";
    /** The api module at the v1.6.3 tag commit (e0497bff1437). */
    static final String ALLOWED_API = "v0.0.0-20231030125810-e0497bff1437";

    @Test
    void goSumHoldsOnlyNomadV163AndItsApiModule() throws IOException {
        List<String> lines = Files.readAllLines(TestEnv.repo().resolve("testbed/go.sum"));
        assertTrue(lines.size() > 100, "testbed/go.sum looks truncated: " + lines.size() + " lines");
        assertEquals(Set.of(ALLOWED_NOMAD), versionsOf(lines, NOMAD), "versions of " + NOMAD + " in testbed/go.sum");
        assertEquals(Set.of(ALLOWED_API), versionsOf(lines, NOMAD_API), "versions of " + NOMAD_API + " in testbed/go.sum");
    }

    @Test
    void goModRequiresV163AndPinsTheApiModuleToItsCommit() throws IOException {
        String goMod = Files.readString(TestEnv.repo().resolve("testbed/go.mod"));
        assertTrue(goMod.matches("(?s).*\\n\\s*" + NOMAD.replace(".", "\\.") + " " + ALLOWED_NOMAD.replace(".", "\\.") + "\\s.*"),
                "testbed/go.mod must require " + NOMAD + " " + ALLOWED_NOMAD);
        assertTrue(goMod.contains(NOMAD_API + " => " + NOMAD_API + " " + ALLOWED_API),
                "testbed/go.mod must replace " + NOMAD_API + " with " + ALLOWED_API);
    }

    @Test
    void theCheckSeesOtherVersions() {
        List<String> sample = List.of(
                NOMAD + " v1.6.3 h1:x=",
                NOMAD + " v1.7.0/go.mod h1:y=",
                NOMAD_API + " v0.0.0-20260324203407-b27b0c2e019a h1:z=",
                NOMAD + "-autoscaler v0.3.7 h1:w=");
        assertEquals(Set.of("v1.6.3", "v1.7.0"), versionsOf(sample, NOMAD));
        assertEquals(Set.of("v0.0.0-20260324203407-b27b0c2e019a"), versionsOf(sample, NOMAD_API));
    }

    /** Versions of exactly {@code module} (not of modules below or beside it) in go.sum lines. */
    static Set<String> versionsOf(List<String> goSum, String module) {
        Set<String> versions = new TreeSet<>();
        for (String line : goSum) {
            String[] fields = line.trim().split("\\s+");
            if (fields.length >= 2 && fields[0].equals(module)) {
                versions.add(fields[1].replaceFirst("/go\\.mod$", ""));
            }
        }
        return versions;
    }
}
