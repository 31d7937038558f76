package nomadmirage.network;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Objects;

/**
 * What {@link NetworkManager#detach} needs to undo an attachment, persisted in the
 * task's driver state. Rules are found by their task-id comment, so they are not listed.
 */
public record NetworkTeardown(
        @JsonProperty("task_id") String taskId,
        @JsonProperty("taps") List<String> taps,
        @JsonProperty("ips") List<String> ips) {

    public NetworkTeardown {
        Objects.requireNonNull(taskId, "taskId");
        taps = taps == null ? List.of() : List.copyOf(taps);
        ips = ips == null ? List.of() : List.copyOf(ips);
    }

    /**
     * The teardown of a task's {@code devices}: taps by the names derived from task id and device, never
     * by a name read from elsewhere, so nothing outside the task's own objects can be named.
     */
    public static NetworkTeardown derived(String taskId, List<String> devices, List<String> ips) {
        return new NetworkTeardown(taskId, devices.stream().map(d -> TapNames.forDevice(taskId, d)).toList(), ips);
    }
}
