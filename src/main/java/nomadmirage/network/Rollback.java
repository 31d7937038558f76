package nomadmirage.network;

import java.util.ArrayDeque;
import java.util.Deque;
import nomadmirage.log.Logger;

/** Undo steps recorded as an attach acquires things; closing without {@link #commit()} runs them in reverse. */
final class Rollback implements AutoCloseable {
    interface Step {
        void undo() throws Exception;
    }

    private final Deque<Step> steps = new ArrayDeque<>();
    private final Logger log;
    private final String taskId;
    private boolean committed;

    Rollback(Logger log, String taskId) {
        this.log = log;
        this.taskId = taskId;
    }

    void add(Step step) {
        steps.push(step);
    }

    void commit() {
        committed = true;
    }

    @Override
    public void close() {
        if (committed) {
            return;
        }
        while (!steps.isEmpty()) {
            try {
                steps.pop().undo();
            } catch (Exception e) {
                log.error("network rollback step failed; reconcile will remove the leftover", "task_id", taskId,
                        "error", e);
            }
        }
    }
}
