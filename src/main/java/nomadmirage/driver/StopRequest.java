package nomadmirage.driver;

/** Whether the driver asked a tender to end before it did; only qemu's status 0 depends on it. */
public enum StopRequest {
    /** StopTask, a forced DestroyTask or a kill. */
    REQUESTED,
    NOT_REQUESTED,
    /** The task was recovered after a plugin restart: a stop asked of an earlier plugin is not known. */
    UNKNOWN
}
