package nomadmirage.driver;

/** The task cannot run as configured; retrying will not help (an unrecoverable start failure). */
public final class InvalidTaskException extends Exception {
    public InvalidTaskException(String message) {
        super(message);
    }

    public InvalidTaskException(String message, Throwable cause) {
        super(message, cause);
    }
}
