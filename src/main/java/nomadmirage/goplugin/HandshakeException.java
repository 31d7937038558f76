package nomadmirage.goplugin;

/** The process was not started by a compatible go-plugin host; the message is for a human. */
public final class HandshakeException extends Exception {
    private final boolean runDirectly;

    public HandshakeException(String message) {
        this(message, false);
    }

    private HandshakeException(String message, boolean runDirectly) {
        super(message);
        this.runDirectly = runDirectly;
    }

    /** No host started the process: someone ran it by hand (the magic cookie is missing or wrong). */
    static HandshakeException runDirectly(String message) {
        return new HandshakeException(message, true);
    }

    public boolean runDirectly() {
        return runDirectly;
    }
}
