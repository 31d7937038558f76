package nomadmirage.nomad;

import com.google.protobuf.Timestamp;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import nomadmirage.proto.drivers.ExitResult;
import nomadmirage.proto.drivers.InspectTaskResponse;
import nomadmirage.proto.drivers.TaskDriverStatus;
import nomadmirage.proto.drivers.TaskState;
import nomadmirage.proto.drivers.TaskStatus;
import nomadmirage.proto.drivers.WaitTaskResponse;
import nomadmirage.driver.ExitOutcome;
import nomadmirage.driver.TaskHandle;

/** Task status and exit results (domain) → Nomad's messages (wire). */
final class TaskStatusMapper {
    /** Go's zero time.Time as a protobuf Timestamp: Nomad reads it back as "not set". */
    static final Timestamp GO_ZERO_TIME = Timestamp.newBuilder().setSeconds(-62135596800L).build();

    private TaskStatusMapper() {
    }

    static WaitTaskResponse waitResponse(ExitOutcome outcome) {
        WaitTaskResponse.Builder out = WaitTaskResponse.newBuilder().setResult(exitResult(outcome));
        if (outcome.error() != null) {
            out.setErr(outcome.error());
        }
        return out.build();
    }

    static ExitResult exitResult(ExitOutcome outcome) {
        return ExitResult.newBuilder().setExitCode(outcome.exitCode()).setSignal(outcome.signal()).build();
    }

    static TaskState wireState(TaskHandle handle) {
        return handle.outcome().isDone() ? TaskState.EXITED : TaskState.RUNNING;
    }

    static InspectTaskResponse inspect(TaskHandle handle) {
        TaskStatus.Builder status = TaskStatus.newBuilder()
                .setId(handle.id().value())
                .setName(handle.driverState().taskName())
                .setState(wireState(handle))
                .setStartedAt(timestamp(handle.startedAt()))
                .setCompletedAt(handle.completedAt() == null ? GO_ZERO_TIME : timestamp(handle.completedAt()));
        ExitOutcome outcome = handle.outcome().getNow(null);
        // Always set: Nomad's client (drivers.taskStatusFromProto) dereferences the result and panics on nil.
        status.setResult(outcome != null ? exitResult(outcome) : ExitResult.getDefaultInstance());
        Map<String, String> attrs = new LinkedHashMap<>();
        attrs.put("pid", Long.toString(handle.tenderPid()));
        attrs.put("tender", handle.tenderName());
        attrs.put("argv", String.join(" ", handle.record().launch().argv()));
        attrs.put("kernel", handle.record().launch().kernel());
        attrs.put("devices", String.join(",", handle.record().launch().devices()));
        attrs.put("memory_mb", Long.toString(handle.record().launch().memoryMb()));
        attrs.put("state", handle.state().name().toLowerCase(java.util.Locale.ROOT));
        for (var net : handle.driverState().networks()) {
            String at = "net." + net.device() + ".";
            attrs.put(at + "tap", net.tap());
            attrs.put(at + "mac", net.mac());
            attrs.put(at + "ip", net.cidr());
            attrs.put(at + "gateway", net.gateway());
        }
        InspectTaskResponse.Builder out = InspectTaskResponse.newBuilder()
                .setTask(status)
                .setDriver(TaskDriverStatus.newBuilder().putAllAttributes(attrs));
        NetworkOverrideMapper.of(handle.driverState()).ifPresent(out::setNetworkOverride);
        return out.build();
    }

    static Timestamp timestamp(Instant at) {
        return Timestamp.newBuilder().setSeconds(at.getEpochSecond()).setNanos(at.getNano()).build();
    }
}
