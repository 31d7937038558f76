package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TapNamesTest {
    private static final String TASK = "3f1c9a2e-8b7d-4e55-9c0a-1d2e3f4a5b6c/web/4a1b2c3d";

    @Test
    void nameIsShortPrefixedAndOfOurShape() {
        String tap = TapNames.forDevice(TASK, "service");
        assertEquals(15, tap.length());
        assertTrue(tap.startsWith("mg"));
        assertTrue(tap.matches("mg[a-z2-7]{13}"), tap);
        assertTrue(TapNames.isOurs(tap));
    }

    @Test
    void sameInputsGiveTheSameName() {
        assertEquals(TapNames.forDevice(TASK, "service"), TapNames.forDevice(TASK, "service"));
        assertEquals("mgbx4mslvizlxrc", TapNames.forDevice("t", "d"));
    }

    @Test
    void taskAndDeviceBothMatter() {
        assertNotEquals(TapNames.forDevice(TASK, "service"), TapNames.forDevice(TASK, "admin"));
        assertNotEquals(TapNames.forDevice(TASK, "service"), TapNames.forDevice(TASK + "x", "service"));
    }

    @Test
    void tenThousandTasksGetTenThousandNames() {
        Set<String> names = new HashSet<>();
        for (int i = 0; i < 10_000; i++) {
            String tap = TapNames.forDevice("alloc-" + i + "/task/0000", "service");
            assertTrue(tap.length() <= 15);
            names.add(tap);
        }
        assertEquals(10_000, names.size());
    }

    @Test
    void otherLinksStartingWithMgAreNotOurs() {
        assertFalse(TapNames.isOurs("mgmt0"));
        assertFalse(TapNames.isOurs("mg"));
        assertFalse(TapNames.isOurs("mgABCDEFGHIJKLM"));
        assertFalse(TapNames.isOurs("mgaaaaaaaaaaaa1"));
        assertFalse(TapNames.isOurs("xgaaaaaaaaaaaaa"));
    }
}
