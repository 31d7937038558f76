package nomadmirage.nomad;

import com.google.protobuf.Any;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import nomadmirage.proto.structs.RecoverableError;

/**
 * The one place where failures become gRPC statuses. Nomad reads UNAVAILABLE
 * and CANCELED as "the plugin died", so ordinary failures never use them; a
 * recoverable start failure carries a RecoverableError as the first detail.
 */
final class StatusErrors {
    private StatusErrors() {
    }

    static StatusRuntimeException invalidArgument(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    static StatusRuntimeException notFound(String message) {
        return Status.NOT_FOUND.withDescription(message).asRuntimeException();
    }

    static StatusRuntimeException failedPrecondition(String message) {
        return Status.FAILED_PRECONDITION.withDescription(message).asRuntimeException();
    }

    static StatusRuntimeException unimplemented(String what) {
        return Status.UNIMPLEMENTED.withDescription(what + " is not supported by the mirage driver").asRuntimeException();
    }

    static StatusRuntimeException internal(String message) {
        return Status.INTERNAL.withDescription(message).asRuntimeException();
    }

    /** A start failure Nomad may retry per the job's restart policy ({@code recoverable=true}) or not. */
    static StatusRuntimeException startFailure(String message, boolean recoverable) {
        com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
                .setCode(Status.Code.FAILED_PRECONDITION.value())
                .setMessage(message)
                .addDetails(Any.pack(RecoverableError.newBuilder().setRecoverable(recoverable).build()))
                .build();
        return StatusProto.toStatusRuntimeException(status);
    }
}
