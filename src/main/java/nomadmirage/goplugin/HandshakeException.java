package nomadmirage.goplugin;

/** The process was not started by a compatible go-plugin host; the message is for a human. */
public final class HandshakeException extends Exception {
    public HandshakeException(String message) {
        super(message);
    }
}
