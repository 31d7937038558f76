package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import nomadmirage.proc.ExitStatus;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ExitOutcomeTest {
    private static final String BANNER = "            |      ___|\n  __|  _ \\  |  _ \\ __ \\\n"
            + "\\__ \\ (   | | (   |  ) |\n____/\\___/ _|\\___/____/\n";

    private static ExitStatus exited(int code) {
        return new ExitStatus(code, 0, false, Instant.EPOCH, null);
    }

    private static ExitStatus exited(int code, String tail) {
        return new ExitStatus(code, 0, false, Instant.EPOCH, null, tail);
    }

    /** tender, tender status, signal, stop requested, console tail -> exit code, signal, words of the description. */
    static Stream<Arguments> rules() {
        return Stream.of(
                // virtio: qemu exits 83 whatever the guest did; the console tells the rest
                Arguments.of("virtio, quiet guest: 83 and nothing printed", TenderKind.QEMU, 83, 0, false,
                        "hello\n", 0, 0, "not printed"),
                Arguments.of("virtio, solo5_exit(0)", TenderKind.QEMU, 83, 0, false,
                        BANNER + "Solo5: solo5_exit(0) called\n", 0, 0, "exited with status 0"),
                Arguments.of("virtio, solo5_exit(3)", TenderKind.QEMU, 83, 0, false,
                        BANNER + "about to fail\nSolo5: solo5_exit(3) called\n", 3, 0, "exited with status 3"),
                Arguments.of("virtio, solo5_exit(-1) as a process would exit", TenderKind.QEMU, 83, 0, false,
                        "Solo5: solo5_exit(-1) called\n", 255, 0, "solo5_exit(-1)"),
                Arguments.of("virtio, serial console line ends", TenderKind.QEMU, 83, 0, false,
                        "Solo5: solo5_exit(7) called\r\n", 7, 0, "exited with status 7"),
                Arguments.of("virtio, ABORT line (printed even when quiet)", TenderKind.QEMU, 83, 0, false,
                        "Solo5: ABORT: mem.c:42: out of memory\n", 255, 0, "Solo5: ABORT: mem.c:42: out of memory"),
                Arguments.of("virtio, solo5_abort()", TenderKind.QEMU, 83, 0, false,
                        "Solo5: solo5_abort() called\n", 255, 0, "aborted"),
                Arguments.of("virtio, a trap then ABORT, then Halted", TenderKind.QEMU, 83, 0, true,
                        "Solo5: trap: type=#GP ec=0x0 rip=0x1\nSolo5: ABORT: cpu_x86_64.c:171: Fatal trap\n"
                                + "Solo5: Halted\n", 255, 0, "Fatal trap"),
                Arguments.of("virtio, the last end line counts", TenderKind.QEMU, 83, 0, false,
                        "Solo5: solo5_exit(1) called\nSolo5: solo5_exit(2) called\n", 2, 0, "status 2"),
                Arguments.of("virtio, qemu 0 after a stop", TenderKind.QEMU, 0, 0, true,
                        "qemu-system-x86_64: terminating on signal 15\n", 0, 0, "qemu exited with status 0 (stopped"),
                Arguments.of("virtio, qemu 0 nobody asked for: a reset", TenderKind.QEMU, 0, 0, false,
                        "serving\n", 1, 0, "no stop was requested"),
                Arguments.of("virtio, qemu 0 with an exit line but not 83", TenderKind.QEMU, 0, 0, false,
                        "Solo5: solo5_exit(0) called\nSolo5: Halted\n", 1, 0, "reset"),
                Arguments.of("virtio, qemu failed on its own", TenderKind.QEMU, 1, 0, false,
                        "qemu-system-x86_64: -kernel x: No such file\n", 1, 0, "before the unikernel finished"),
                Arguments.of("virtio, qemu killed", TenderKind.QEMU, 137, 9, true, "", 137, 9, "signal 9"),
                // hvt/spt: the tender's status is the guest's, whatever the console says
                Arguments.of("hvt, exit 3", TenderKind.SOLO5_HVT, 3, 0, false,
                        "Solo5: solo5_exit(3) called\n", 3, 0, "exited with status 3"),
                Arguments.of("hvt, quiet exit 3", TenderKind.SOLO5_HVT, 3, 0, false, "", 3, 0, "exited with status 3"),
                Arguments.of("hvt, abort", TenderKind.SOLO5_HVT, 255, 0, false,
                        "Solo5: ABORT: standin.c:1: boom\n", 255, 0, "aborted (solo5_abort or a guest fault), status 255: "
                                + "Solo5: ABORT: standin.c:1: boom"),
                Arguments.of("hvt, 83 is just 83", TenderKind.SOLO5_HVT, 83, 0, false, "", 83, 0, "status 83"),
                Arguments.of("hvt, SIGTERM makes it exit 1", TenderKind.SOLO5_HVT, 1, 0, true,
                        "solo5-hvt: Exiting on signal 15\n", 1, 0, "status 1"),
                Arguments.of("spt, signal death", TenderKind.SOLO5_SPT, 143, 15, true, "", 143, 15, "signal 15"),
                Arguments.of("spt, core dump", TenderKind.SOLO5_SPT, 139, 11, false, "", 139, 11, "core dumped"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rules")
    void rule(String name, TenderKind tender, int status, int signal, boolean stopRequested, String tail,
            int wantCode, int wantSignal, String wantWords) {
        ExitStatus s = new ExitStatus(status, signal, signal == 11, Instant.EPOCH, null, tail);
        ExitOutcome outcome = ExitOutcome.from(s, tender, stopRequested);
        assertEquals(wantCode, outcome.exitCode(), outcome.description());
        assertEquals(wantSignal, outcome.signal(), outcome.description());
        assertNull(outcome.error());
        assertTrue(outcome.description().contains(wantWords), outcome.description());
        assertEquals(wantCode != 0 || wantSignal != 0, outcome.abnormal(), outcome.description());
        assertEquals(!outcome.abnormal(), outcome.successful());
    }

    @Test
    void withoutKnowingAboutAStopQemuStatus0IsReadAsAStopAsBefore() {
        ExitOutcome outcome = ExitOutcome.from(exited(0), TenderKind.QEMU);
        assertEquals(0, outcome.exitCode());
        assertTrue(outcome.description().startsWith("qemu exited with status 0"), outcome.description());
        assertTrue(outcome.description().contains("not known"), outcome.description());
        // The console rules apply all the same.
        assertEquals(4, ExitOutcome.from(exited(83, "Solo5: solo5_exit(4) called\n"), TenderKind.QEMU).exitCode());
    }

    @Test
    void solo5ExitCodesPassThrough() {
        ExitOutcome outcome = ExitOutcome.from(exited(3), TenderKind.SOLO5_HVT);
        assertEquals(3, outcome.exitCode());
        assertEquals(0, outcome.signal());
        assertNull(outcome.error());
        assertTrue(ExitOutcome.from(exited(0), TenderKind.SOLO5_SPT).successful());
        assertFalse(ExitOutcome.from(exited(0), TenderKind.SOLO5_SPT).abnormal());
    }

    @Test
    void anAbortIs255AndSaysSo() {
        ExitOutcome outcome = ExitOutcome.from(exited(255), TenderKind.SOLO5_HVT);
        assertEquals(255, outcome.exitCode());
        assertTrue(outcome.description().contains("abort"), outcome.description());
        assertTrue(outcome.abnormal());
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
        assertTrue(outcome.abnormal());
    }

    @Test
    void aSupervisorFailureIsAnError() {
        ExitOutcome outcome = ExitOutcome.from(ExitStatus.unknown("supervisor and tender are gone; exit status unknown"),
                TenderKind.SOLO5_HVT, false);
        assertEquals("supervisor and tender are gone; exit status unknown", outcome.error());
        assertFalse(outcome.successful());
        assertTrue(outcome.abnormal());
        assertEquals("", outcome.consoleTail());
    }

    @Test
    void theTailIsCarriedCleanedAndBounded() {
        String raw = "\u001B[2J\u001B[01;01HSeaBIOS (version 1.16)\r\n\u001Bc"
                + IntStream.rangeClosed(1, 30).mapToObj(i -> "line " + i + "\u0007\n").reduce("", String::concat)
                + "Solo5: ABORT: x.c:1: \u001B[31mred\u001B[0m\n\n";
        ExitOutcome outcome = ExitOutcome.from(exited(83, raw), TenderKind.QEMU, false);
        assertEquals(255, outcome.exitCode());
        List<String> lines = outcome.consoleTail().lines().toList();
        assertEquals(ExitOutcome.TAIL_LINES, lines.size(), outcome.consoleTail());
        assertEquals("line 12", lines.getFirst());
        assertEquals("Solo5: ABORT: x.c:1: red", lines.getLast());
        assertTrue(outcome.description().contains("Solo5: ABORT: x.c:1: red"), outcome.description());
        assertTrue(outcome.consoleTail().chars().noneMatch(c -> c < 0x20 && c != '\n'), outcome.consoleTail());
    }

    @Test
    void escapesAndControlCharactersGo() {
        assertEquals(List.of("SeaBIOS (version 1.16)", "a\tb", "title gone"), ExitOutcome.displayLines(
                "\u001B[2J\u001B[01;01HSeaBIOS (version 1.16)\r\na\tb\u0000\n\u001B]0;title\u0007title gone\u001B(B\n"));
        assertEquals(List.of(), ExitOutcome.displayLines(""));
        assertEquals(List.of(), ExitOutcome.displayLines("\n\n"));
    }

    @Test
    void theTailKeepsWithin2KiBAndALongLineKeepsItsEnd() {
        String line = "x".repeat(300);
        List<String> lines = ExitOutcome.displayLines((line + "\n").repeat(10));
        assertEquals(6, lines.size(), "6 * 301 - 1 <= 2048 < 7 * 301 - 1");
        List<String> huge = ExitOutcome.displayLines("a".repeat(5000) + "end\n");
        assertEquals(1, huge.size());
        assertEquals(ExitOutcome.TAIL_CHARS, huge.getFirst().length());
        assertTrue(huge.getFirst().endsWith("end"));
    }

    @Test
    void theOldConstructorHasNoTail() {
        ExitOutcome lost = new ExitOutcome(-1, 0, "lost track of the tender: x", "lost track of the tender");
        assertEquals("", lost.consoleTail());
        assertTrue(lost.abnormal());
    }
}
