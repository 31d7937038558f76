package nomadmirage.driver;

/** The plugin tracks no task with this id (Nomad's {@code drivers.ErrTaskNotFound}). */
public final class TaskNotFoundException extends DriverException {
    /** Nomad's own wording for ErrTaskNotFound, so agent logs read alike for every driver. */
    public static final String NOMAD_MESSAGE = "task not found for given id";

    public TaskNotFoundException(TaskId id) {
        super(NOMAD_MESSAGE + ": " + id, null);
    }

    public TaskNotFoundException(TaskId id, String why) {
        super(NOMAD_MESSAGE + ": " + id + " (" + why + ")", null);
    }
}
