package nomadmirage.driver;

/** The task exists but its state forbids the call: destroying a running task without force, signalling an ended one. */
public final class TaskStateException extends DriverException {
    public TaskStateException(String message) {
        super(message, null);
    }

    static TaskStateException stillRunning(TaskId id) {
        return new TaskStateException("task " + id + " is still running; stop it first or destroy it with force");
    }
}
