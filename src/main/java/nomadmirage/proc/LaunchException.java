package nomadmirage.proc;

/** The tender could not be started; {@link #errno()} is the OS error when there was one, else 0. */
public final class LaunchException extends Exception {
    private static final long serialVersionUID = 1L;
    private final int errno;

    public LaunchException(String message) {
        this(message, 0, null);
    }

    public LaunchException(String message, Throwable cause) {
        this(message, 0, cause);
    }

    public LaunchException(String message, int errno, Throwable cause) {
        super(message, cause);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
