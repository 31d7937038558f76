package nomadmirage.goplugin;

/** The plugin cannot serve as go-plugin's host expects; the message says what to fix. */
public final class ServeException extends Exception {
    public ServeException(String message) {
        super(message);
    }

    public ServeException(String message, Throwable cause) {
        super(message, cause);
    }
}
