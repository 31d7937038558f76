package nomadmirage.solo5;

/**
 * A file is not a unikernel this driver can describe: unreadable, not a
 * little-endian ELF64 executable, or its Solo5 notes are missing or invalid.
 * The message says what is wrong and where (file offset, field).
 */
public final class ManifestException extends Exception {
    private static final long serialVersionUID = 1L;

    public ManifestException(String message) {
        super(message);
    }

    public ManifestException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The same failure, its message prefixed with the file it concerns. */
    ManifestException in(String source) {
        ManifestException located = new ManifestException(source + ": " + getMessage(), getCause());
        located.setStackTrace(getStackTrace());
        return located;
    }
}
