package nomadmirage.driver;

/** A transient host problem prevented the start; Nomad may retry (a recoverable start failure). */
public final class HostFailureException extends Exception {
    public HostFailureException(String message, Throwable cause) {
        super(message, cause);
    }
}
