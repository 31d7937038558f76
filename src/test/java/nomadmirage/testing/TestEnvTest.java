package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/** A missing prerequisite skips a test on a developer's machine and fails it under CI. */
class TestEnvTest {
    @Test
    void aPresentPrerequisiteNeitherSkipsNorFails() {
        TestEnv.require(true, "unused", true);
        TestEnv.require(true, "unused", false);
    }

    @Test
    void aMissingPrerequisiteSkipsOutsideCi() {
        TestAbortedException e = assertThrows(TestAbortedException.class,
                () -> TestEnv.require(false, "br_netfilter is not loaded", false));
        assertTrue(e.getMessage().contains("br_netfilter is not loaded"), e.getMessage());
    }

    @Test
    void aMissingPrerequisiteFailsUnderCi() {
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> TestEnv.require(false, "br_netfilter is not loaded", true));
        assertEquals("br_netfilter is not loaded (CI is set, so this fails instead of being skipped)", e.getMessage());
    }

    @Test
    void theEffectiveUidIsTheOwnerOfAFileThisJvmCreates() throws Exception {
        Path file = Files.createTempFile("uid", ".probe");
        try {
            assertEquals(((Number) Files.getAttribute(file, "unix:uid")).longValue(), TestEnv.effectiveUid());
        } finally {
            Files.delete(file);
        }
    }
}
