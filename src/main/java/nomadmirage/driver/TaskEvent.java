package nomadmirage.driver;

import java.time.Instant;
import java.util.Map;

/** A driver event shown in the task's event list ({@code nomad alloc status}). */
public record TaskEvent(TaskId taskId, String allocId, String taskName, Instant at, String message,
        Map<String, String> annotations) {
    public TaskEvent {
        annotations = Map.copyOf(annotations);
    }
}
