package nomadmirage.nomad;

import com.google.protobuf.Any;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import nomadmirage.driver.DriverException;
import nomadmirage.driver.HostFailureException;
import nomadmirage.driver.InvalidTaskException;
import nomadmirage.driver.TaskNotFoundException;
import nomadmirage.driver.TaskStateException;
import nomadmirage.proto.structs.RecoverableError;

/**
 * The one mapping from driver failures to gRPC statuses (the README's error table). Nomad reads
 * UNAVAILABLE and CANCELED as "the plugin died", so no failure uses them (only a wait cut by the
 * plugin's own stop does). StartTask failures carry
 * Nomad's RecoverableError as their first detail with FAILED_PRECONDITION, as Nomad's own plugin
 * server sends them: only a host failure is recoverable.
 */
final class ErrorTable {
    private ErrorTable() {
    }

    /** The status for a failure of any RPC but StartTask. */
    static StatusRuntimeException status(Throwable failure) {
        Status.Code code = switch (failure) {
            case InvalidTaskException e -> Status.Code.INVALID_ARGUMENT;
            case TaskNotFoundException e -> Status.Code.NOT_FOUND;
            case TaskStateException e -> Status.Code.FAILED_PRECONDITION;
            case HostFailureException e -> Status.Code.INTERNAL;
            default -> Status.Code.INTERNAL;
        };
        return Status.fromCode(code).withDescription(message(failure)).asRuntimeException();
    }

    /** The status for a StartTask failure: FAILED_PRECONDITION with RecoverableError. */
    static StatusRuntimeException startStatus(Throwable failure) {
        com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
                .setCode(Status.Code.FAILED_PRECONDITION.value())
                .setMessage(message(failure))
                .addDetails(Any.pack(RecoverableError.newBuilder().setRecoverable(recoverable(failure)).build()))
                .build();
        return StatusProto.toStatusRuntimeException(status);
    }

    static boolean recoverable(Throwable failure) {
        return failure instanceof HostFailureException;
    }

    /** Whether the failure is the node's or the plugin's fault (logged at error) rather than the caller's. */
    static boolean ours(Throwable failure) {
        return failure instanceof HostFailureException || !(failure instanceof DriverException);
    }

    /** SetConfig with a bad plugin configuration or API version. */
    static StatusRuntimeException invalidConfig(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    /**
     * The one use of UNAVAILABLE: a WaitTask still pending when the plugin stops. Nomad reads it as
     * "the plugin went away" (not as the task's end) and waits again on the relaunched plugin.
     */
    static StatusRuntimeException pluginStopping() {
        return Status.UNAVAILABLE.withDescription("the mirage plugin is stopping").asRuntimeException();
    }

    static StatusRuntimeException unimplemented(String what) {
        return Status.UNIMPLEMENTED.withDescription(what + " is not supported by the mirage driver").asRuntimeException();
    }

    private static String message(Throwable failure) {
        return failure instanceof DriverException ? failure.getMessage()
                : "internal error in the mirage driver: " + failure;
    }
}
