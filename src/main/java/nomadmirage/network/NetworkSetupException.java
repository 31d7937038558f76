package nomadmirage.network;

/** The host could not be set up for a task's network (a command failed, the lease file is unusable, the pool is full). */
public class NetworkSetupException extends Exception {
    public NetworkSetupException(String message) {
        super(message);
    }

    public NetworkSetupException(String message, Throwable cause) {
        super(message, cause);
    }
}
