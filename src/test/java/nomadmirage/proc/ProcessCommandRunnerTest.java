package nomadmirage.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProcessCommandRunnerTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private final ProcessCommandRunner runner = new ProcessCommandRunner();

    private static List<String> print(int bytes, String stream) {
        return List.of("sh", "-c", "yes 0123456789abcdef | head -c " + bytes + (stream.equals("stderr") ? " >&2" : ""));
    }

    @Test
    void outputWithinTheBoundIsWholeAndNotMarked() throws Exception {
        CommandResult result = runner.run(print(1000, "stdout"), TIMEOUT);
        assertTrue(result.succeeded());
        assertEquals(1000, result.stdout().length());
        assertFalse(result.truncated());
        assertEquals(CommandRunner.DEFAULT_MAX_OUTPUT_BYTES,
                runner.run(print(CommandRunner.DEFAULT_MAX_OUTPUT_BYTES, "stdout"), TIMEOUT).stdout().length());
        assertFalse(runner.run(print(CommandRunner.DEFAULT_MAX_OUTPUT_BYTES, "stdout"), TIMEOUT).truncated(),
                "exactly the bound is not more than it");
    }

    @Test
    void outputPastTheDefaultBoundIsCutAndMarkedButTheExitStatusStays() throws Exception {
        CommandResult result = runner.run(print(3_000_000, "stdout"), TIMEOUT);
        assertEquals(CommandRunner.DEFAULT_MAX_OUTPUT_BYTES, result.stdout().length());
        assertTrue(result.truncated());
        assertTrue(result.succeeded(), "callers that only look at the status keep working");
        assertTrue(result.summary().contains("exited 0 (output truncated)"), result.summary());

        CommandResult noisy = runner.run(print(2_000_000, "stderr"), TIMEOUT);
        assertTrue(noisy.truncated(), "stderr has the same bound");
        assertEquals("", noisy.stdout());
        // Both streams are drained while the command runs, so it never blocks on a full stderr pipe
        // (it used to sit out the whole timeout when one reader waited for the other).
        assertFalse(noisy.timedOut(), "the command blocked on its stderr pipe until the timeout: " + noisy.summary());
        assertTrue(noisy.succeeded(), noisy.summary());
    }

    @Test
    void aLargerBoundKeepsLargerOutputWhole() throws Exception {
        CommandResult result = runner.run(print(3_000_000, "stdout"), TIMEOUT, 4 << 20);
        assertEquals(3_000_000, result.stdout().length());
        assertFalse(result.truncated());
        assertTrue(runner.run(print(3_000_000, "stdout"), TIMEOUT, 2 << 20).truncated());
    }
}
