package nomadmirage.driver;

/**
 * Every way a driver call can fail, as one closed family; {@code nomad.ErrorTable} maps each kind
 * to exactly one gRPC status (and, for StartTask, to Nomad's recoverable flag).
 */
public abstract sealed class DriverException extends Exception
        permits InvalidTaskException, TaskNotFoundException, TaskStateException, HostFailureException {

    DriverException(String message, Throwable cause) {
        super(message, cause);
    }
}
