package nomadmirage.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SignalsTest {
    @Test
    void nomadNamesMapToLinuxNumbers() {
        assertEquals(1, Signals.parse("SIGHUP"));
        assertEquals(2, Signals.parse("SIGINT"));
        assertEquals(3, Signals.parse("SIGQUIT"));
        assertEquals(9, Signals.parse("SIGKILL"));
        assertEquals(10, Signals.parse("SIGUSR1"));
        assertEquals(12, Signals.parse("SIGUSR2"));
        assertEquals(15, Signals.parse("SIGTERM"));
        assertEquals(18, Signals.parse("SIGCONT"));
        assertEquals(19, Signals.parse("SIGSTOP"));
        assertEquals(20, Signals.parse("SIGTSTP"));
        assertEquals(28, Signals.parse("SIGWINCH"));
        assertEquals(6, Signals.parse("SIGIOT"));
        assertEquals(29, Signals.parse("SIGIO"));
        assertEquals(31, Signals.parse("SIGSYS"));
    }

    @Test
    void prefixCaseAndNumbersAreAccepted() {
        assertEquals(15, Signals.parse("TERM"));
        assertEquals(15, Signals.parse("term"));
        assertEquals(15, Signals.parse(" sigterm "));
        assertEquals(15, Signals.parse("15"));
        assertEquals(64, Signals.parse("64"));
        assertEquals(34, Signals.parse("SIGRTMIN"));
        assertEquals(36, Signals.parse("SIGRTMIN+2"));
        assertEquals(63, Signals.parse("RTMAX-1"));
        assertEquals(64, Signals.parse("SIGRTMAX"));
    }

    @Test
    void unknownSignalsListTheAllowedNames() {
        for (String bad : new String[] {"SIGFOO", "", "0", "65", "-1", "SIG", "SIGRTMIN+31", "1.5"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Signals.parse(bad), bad);
            assertTrue(e.getMessage().contains("SIGTERM") && e.getMessage().contains("SIGWINCH"), e.getMessage());
            assertTrue(e.getMessage().contains("\"" + bad + "\""), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Signals.parse(null));
    }

    @Test
    void numbersHaveNames() {
        assertEquals("SIGTERM", Signals.name(15));
        assertEquals("SIGKILL", Signals.name(9));
        assertEquals("SIGRTMIN+2", Signals.name(36));
        assertEquals("SIG32", Signals.name(32));
        assertThrows(IllegalArgumentException.class, () -> Signals.name(0));
        assertThrows(IllegalArgumentException.class, () -> Signals.name(65));
    }
}
