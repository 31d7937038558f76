package nomadmirage.driver;

/**
 * The request is wrong: the job's config, a signal name, the driver state in a handle. Retrying the
 * same request cannot help (an unrecoverable start failure).
 */
public final class InvalidTaskException extends DriverException {
    public InvalidTaskException(String message) {
        super(message, null);
    }

    public InvalidTaskException(String message, Throwable cause) {
        super(message, cause);
    }
}
