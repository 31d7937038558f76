package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TaskStateTest {
    @Test
    void onlyTheLifecycleTransitionsAreAllowed() {
        Set<String> allowed = Set.of("STARTING>RUNNING", "STARTING>EXITED", "STARTING>DESTROYED",
                "RUNNING>STOPPING", "RUNNING>EXITED", "STOPPING>EXITED", "EXITED>DESTROYED");
        for (TaskState from : TaskState.values()) {
            for (TaskState to : TaskState.values()) {
                assertEquals(allowed.contains(from + ">" + to), from.canMoveTo(to), from + " -> " + to);
            }
        }
    }

    @Test
    void liveStatesAreThoseWithATender() {
        assertEquals(EnumSet.of(TaskState.STARTING, TaskState.RUNNING, TaskState.STOPPING),
                EnumSet.copyOf(java.util.Arrays.stream(TaskState.values()).filter(TaskState::isLive).toList()));
        assertTrue(TaskState.STOPPING.isLive());
        assertFalse(TaskState.DESTROYED.isLive());
    }
}
