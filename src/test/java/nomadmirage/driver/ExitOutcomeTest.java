package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import nomadmirage.proc.ExitStatus;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;

class ExitOutcomeTest {
    private static ExitStatus exited(int code) {
        return new ExitStatus(code, 0, false, Instant.EPOCH, null);
    }

    @Test
    void solo5ExitCodesPassThrough() {
        ExitOutcome outcome = ExitOutcome.from(exited(3), TenderKind.SOLO5_HVT);
        assertEquals(3, outcome.exitCode());
        assertEquals(0, outcome.signal());
        assertNull(outcome.error());
        assertTrue(ExitOutcome.from(exited(0), TenderKind.SOLO5_SPT).successful());
    }

    @Test
    void anAbortIs255AndSaysSo() {
        ExitOutcome outcome = ExitOutcome.from(exited(255), TenderKind.SOLO5_HVT);
        assertEquals(255, outcome.exitCode());
        assertTrue(outcome.description().contains("abort"), outcome.description());
    }

    @Test
    void qemuStatus83IsTheUnikernelExitingNormally() {
        ExitOutcome outcome = ExitOutcome.from(exited(83), TenderKind.QEMU);
        assertEquals(0, outcome.exitCode());
        assertTrue(outcome.successful());
        assertEquals(1, ExitOutcome.from(exited(1), TenderKind.QEMU).exitCode());
        assertEquals(83, ExitOutcome.from(exited(83), TenderKind.SOLO5_HVT).exitCode());
    }

    @Test
    void aSignalDeathReportsTheSignalAnd128PlusIt() {
        ExitOutcome outcome = ExitOutcome.from(new ExitStatus(137, 9, false, Instant.EPOCH, null), TenderKind.SOLO5_SPT);
        assertEquals(9, outcome.signal());
        assertEquals(137, outcome.exitCode());
        assertFalse(outcome.successful());
    }

    @Test
    void aSupervisorFailureIsAnError() {
        ExitOutcome outcome = ExitOutcome.from(ExitStatus.unknown("supervisor and tender are gone; exit status unknown"),
                TenderKind.SOLO5_HVT);
        assertEquals("supervisor and tender are gone; exit status unknown", outcome.error());
        assertFalse(outcome.successful());
    }
}
