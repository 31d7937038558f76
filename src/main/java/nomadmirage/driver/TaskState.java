package nomadmirage.driver;

import java.util.EnumSet;
import java.util.Set;

/** Lifecycle of a task inside the plugin; transitions are checked. */
public enum TaskState {
    STARTING, RUNNING, STOPPING, EXITED, DESTROYED;

    private Set<TaskState> next() {
        return switch (this) {
            case STARTING -> EnumSet.of(RUNNING, EXITED, DESTROYED);
            case RUNNING -> EnumSet.of(STOPPING, EXITED);
            case STOPPING -> EnumSet.of(EXITED);
            case EXITED -> EnumSet.of(DESTROYED);
            case DESTROYED -> EnumSet.noneOf(TaskState.class);
        };
    }

    public boolean canMoveTo(TaskState target) {
        return next().contains(target);
    }

    public boolean isLive() {
        return this == STARTING || this == RUNNING || this == STOPPING;
    }
}
