package nomadmirage.driver;

/** The operation needs a stopped task (e.g. a non-forced destroy). */
public final class TaskRunningException extends Exception {
    public TaskRunningException(TaskId id) {
        super("task " + id + " is still running; stop it first or destroy it with force");
    }
}
