package nomadmirage.driver;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.NetworkTeardown;
import nomadmirage.tender.TenderKind;

/**
 * What Nomad keeps for us in the task handle ({@code driver_state}) and hands back on recovery:
 * only what the task's identity, its exit semantics and its driver network need. The handle carries
 * it sealed ({@link DriverStateSeal}: an HMAC under the node's key, bound to the task id), and it is
 * still read as untrusted input — recovery decodes it only once the MAC matched, checks it against the
 * plugin's own record in the run directory, and nothing in it names a path or a host object the
 * plugin would act on, except in group mode the allocation's network namespace: the path Nomad gave at
 * StartTask, which the plugin recorded itself, acts on only after checking it is a namespace mount, and in
 * which it removes only taps named after the task id and rules tagged with it.
 */
public record DriverState(
        @JsonProperty("version") int version,
        @JsonProperty("task") Task task,
        @JsonProperty("tender") TenderKind tender,
        @JsonProperty("started_at_ns") long startedAtNanos,
        @JsonProperty("network") Network network) {

    /**
     * 3: the small form of 2, only ever handed out sealed ({@link DriverStateSeal#VERSION}); 2 was the
     * same state unsealed, 1 carried paths, argv and display fields.
     */
    public static final int CURRENT_VERSION = 3;
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public record Task(@JsonProperty("id") String id, @JsonProperty("alloc_id") String allocId,
            @JsonProperty("name") String name) {
    }

    /** The task's attached devices and whether Nomad should advertise the unikernel's address. */
    public record Network(@JsonProperty("devices") List<DeviceAttachment> devices,
            @JsonProperty("auto_advertise") boolean autoAdvertise,
            @JsonProperty("netns") String netns) {
        public static final Network NONE = new Network(List.of(), false);

        public Network {
            devices = devices == null ? List.of() : List.copyOf(devices);
            netns = netns == null ? "" : netns;
        }

        /** Host networking. */
        public Network(List<DeviceAttachment> devices, boolean autoAdvertise) {
            this(devices, autoAdvertise, "");
        }
    }

    public static DriverState of(TaskRequest request, TenderKind tender, long startedAtNanos, Network network) {
        return new DriverState(CURRENT_VERSION, new Task(request.id().value(), request.allocId(), request.name()),
                tender, startedAtNanos, network);
    }

    public String taskId() {
        return task.id();
    }

    public String allocId() {
        return task.allocId();
    }

    public String taskName() {
        return task.name();
    }

    public List<DeviceAttachment> networks() {
        return network.devices();
    }

    /** The allocation's network namespace the task's devices live in (group mode); empty in host mode. */
    public Optional<java.nio.file.Path> groupNamespace() {
        return network.netns().isEmpty() ? Optional.empty() : Optional.of(java.nio.file.Path.of(network.netns()));
    }

    public boolean autoAdvertise() {
        return network.autoAdvertise();
    }

    /**
     * What detaching this task's network removes: its rules and leases are found by task id, its taps
     * are the names derived from task id and device — never a name read from the state itself.
     */
    public NetworkTeardown networkTeardown() {
        return NetworkTeardown.derived(taskId(), networks().stream().map(DeviceAttachment::device).toList(),
                networks().stream().map(DeviceAttachment::ip).toList());
    }

    public byte[] encode() {
        try {
            return JSON.writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("driver state is always serialisable", e);
        }
    }

    /** Decodes and checks the version and completeness; the message says what is wrong. */
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
        if (state.task() == null || state.task().id() == null || state.tender() == null || state.network() == null) {
            throw new InvalidTaskException("the task handle's driver state is incomplete");
        }
        return state;
    }
}
