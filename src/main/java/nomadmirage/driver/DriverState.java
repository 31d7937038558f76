package nomadmirage.driver;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.List;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.NetworkTeardown;

/**
 * Everything needed to find a task again after the plugin or the agent
 * restarted, stored by Nomad as the handle's opaque {@code driver_state}
 * (after an agent restart the job's config bytes are gone, so nothing may
 * depend on them). Versioned so the format can evolve.
 */
public record DriverState(
        @JsonProperty("version") int version,
        @JsonProperty("task_id") String taskId,
        @JsonProperty("alloc_id") String allocId,
        @JsonProperty("task_name") String taskName,
        @JsonProperty("tender") String tender,
        @JsonProperty("run_dir") String runDir,
        @JsonProperty("kernel") String kernel,
        @JsonProperty("argv") List<String> argv,
        @JsonProperty("started_at_ns") long startedAtNanos,
        @JsonProperty("qmp_socket") String qmpSocket,
        @JsonProperty("memory_mb") long memoryMb,
        @JsonProperty("devices") List<String> devices,
        @JsonProperty("networks") List<DeviceAttachment> networks,
        @JsonProperty("network_teardown") NetworkTeardown networkTeardown,
        @JsonProperty("auto_advertise") boolean autoAdvertise) {

    public static final int CURRENT_VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public DriverState {
        argv = argv == null ? List.of() : List.copyOf(argv);
        devices = devices == null ? List.of() : List.copyOf(devices);
        networks = networks == null ? List.of() : List.copyOf(networks);
    }

    public byte[] encode() {
        try {
            return JSON.writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("driver state is always serialisable", e);
        }
    }

    /** Decodes and checks the version; the message says what is wrong. */
    public static DriverState decode(byte[] bytes) throws InvalidTaskException {
        if (bytes.length == 0) {
            throw new InvalidTaskException("the task handle carries no mirage driver state");
        }
        DriverState state;
        try {
            state = JSON.readValue(bytes, DriverState.class);
        } catch (IOException e) {
            throw new InvalidTaskException("the task handle's driver state is not readable: " + e.getMessage(), e);
        }
        if (state.version() != CURRENT_VERSION) {
            throw new InvalidTaskException("the task handle's driver state has version " + state.version()
                    + "; this plugin reads version " + CURRENT_VERSION);
        }
        if (state.taskId() == null || state.runDir() == null || state.tender() == null) {
            throw new InvalidTaskException("the task handle's driver state is incomplete");
        }
        return state;
    }
}
