package nomadmirage.nomad;

import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.function.Function;
import nomadmirage.driver.DriverException;
import nomadmirage.log.Logger;

/** The one wrapper every unary RPC runs through: call the driver, answer, or map the failure by {@link ErrorTable}. */
final class Rpc {
    @FunctionalInterface
    interface Body<T> {
        T call() throws DriverException;
    }

    private final Logger log;

    Rpc(Logger log) {
        this.log = log;
    }

    <T> void unary(String rpc, String taskId, StreamObserver<T> response, Body<T> body) {
        run(rpc, taskId, response, body, ErrorTable::status);
    }

    /** StartTask: failures carry Nomad's recoverable flag. */
    <T> void start(String taskId, StreamObserver<T> response, Body<T> body) {
        run("StartTask", taskId, response, body, ErrorTable::startStatus);
    }

    /** Logs and maps a failure that happened outside a {@link Body} (e.g. while opening a stream). */
    StatusRuntimeException failure(String rpc, String taskId, Throwable failure) {
        logFailure(rpc, taskId, failure);
        return ErrorTable.status(failure);
    }

    private <T> void run(String rpc, String taskId, StreamObserver<T> response, Body<T> body,
            Function<Throwable, StatusRuntimeException> table) {
        T answer;
        try {
            answer = body.call();
        } catch (DriverException | RuntimeException e) {
            logFailure(rpc, taskId, e);
            response.onError(table.apply(e));
            return;
        }
        response.onNext(answer);
        response.onCompleted();
    }

    private void logFailure(String rpc, String taskId, Throwable e) {
        if (ErrorTable.ours(e)) {
            log.error(rpc + " failed", "task_id", taskId, "error", e instanceof DriverException ? e.getMessage() : e.toString());
        } else {
            log.warn(rpc + " refused", "task_id", taskId, "error", e.getMessage());
        }
    }
}
