package nomadmirage.network;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Objects;

/** One device's address and MAC, held by a task until it is detached. */
public record Lease(
        @JsonProperty("task_id") String taskId,
        @JsonProperty("device") String device,
        @JsonProperty("ip") String ip,
        @JsonProperty("mac") String mac) {

    public Lease {
        Objects.requireNonNull(taskId, "taskId");
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(ip, "ip");
        mac = mac == null ? "" : mac;
    }

    public String tap() {
        return TapNames.forDevice(taskId, device);
    }

    int address() {
        return Ipv4.parse(ip);
    }
}
