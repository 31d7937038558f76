package nomadmirage.driver;

/**
 * The node failed, not the request: a missing helper binary, a FIFO that never opened, a state
 * directory that cannot be written, a tender that survived SIGKILL. Nomad may retry (a recoverable
 * start failure).
 */
public final class HostFailureException extends DriverException {
    public HostFailureException(String message) {
        super(message, null);
    }

    public HostFailureException(String message, Throwable cause) {
        super(message, cause);
    }
}
