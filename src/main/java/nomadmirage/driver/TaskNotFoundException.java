package nomadmirage.driver;

/** The plugin tracks no task with this id. */
public final class TaskNotFoundException extends Exception {
    public TaskNotFoundException(TaskId id) {
        super("task " + id + " is not known to the mirage driver");
    }
}
