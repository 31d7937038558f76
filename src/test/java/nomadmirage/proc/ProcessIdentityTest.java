package nomadmirage.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ProcessIdentityTest {
    private static final String TAIL = " 1 4321 4321 0 -1 4194560 120 0 0 0 7 3 0 0 20 0 1 0 98765 2400000 300 "
            + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    @Test
    void commWithParenthesesAndSpacesIsSkippedUpToTheLastParenthesis() {
        StatLine stat = StatLine.parse("4321 (evil) (S 1 2 3) S" + TAIL);
        assertEquals(4321, stat.pid());
        assertEquals("evil) (S 1 2 3", stat.comm());
        assertEquals('S', stat.state());
        assertEquals(4321, stat.session());
        assertEquals(7, stat.utime());
        assertEquals(3, stat.stime());
        assertEquals(98765, stat.startTicks());
        assertFalse(stat.ended());
    }

    @Test
    void plainAndZombieLines() {
        assertEquals("solo5-hvt", StatLine.parse("77 (solo5-hvt) R" + TAIL).comm());
        assertEquals("a b", StatLine.parse("77 (a b) R" + TAIL).comm());
        assertTrue(StatLine.parse("77 (sh) Z" + TAIL).ended());
        assertEquals(")", StatLine.parse("77 ()) R" + TAIL).comm());
    }

    @Test
    void malformedLinesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> StatLine.parse("77 sh R 1 2 3"));
        assertThrows(IllegalArgumentException.class, () -> StatLine.parse("77 (sh) R 1 2 3"));
        assertThrows(IllegalArgumentException.class, () -> StatLine.parse("x (sh) R" + TAIL));
        assertThrows(IllegalArgumentException.class, () -> StatLine.parse("77 (sh)"));
    }

    @Test
    void theRunningJvmIsAliveOnlyWithItsOwnStartTime() {
        long self = ProcessHandle.current().pid();
        ProcessIdentity me = ProcessIdentity.current(self).orElseThrow();
        assertEquals(self, me.pid());
        assertTrue(me.isAlive());
        assertFalse(new ProcessIdentity(self, me.startTicks() + 1).isAlive());
        assertFalse(new ProcessIdentity(999_999_999L, 1).isAlive());
        assertTrue(ProcessIdentity.current(999_999_999L).isEmpty());
    }

    @Test
    void identitiesAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> new ProcessIdentity(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new ProcessIdentity(5, -1));
    }
}
