package nomadmirage.state;

import java.util.ArrayDeque;
import java.util.Deque;
import nomadmirage.log.Logger;

/**
 * Undo steps recorded as an operation acquires host objects (run directory,
 * files, taps, leases, rules, processes); closing without {@link #commit()}
 * runs them in reverse order, continuing past failures.
 */
public final class Rollback implements AutoCloseable {
    @FunctionalInterface
    public interface Step {
        void undo() throws Exception;
    }

    private final Deque<Step> steps = new ArrayDeque<>();
    private final Logger log;
    private final String taskId;
    private final String afterFailure;
    private boolean committed;

    /** {@code afterFailure} tells the operator what happens to a leftover, e.g. "reconcile removes it". */
    public Rollback(Logger log, String taskId, String afterFailure) {
        this.log = log;
        this.taskId = taskId;
        this.afterFailure = afterFailure;
    }

    public void add(Step step) {
        steps.push(step);
    }

    public void commit() {
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
                log.error("rollback step failed; " + afterFailure, "task_id", taskId, "error", e);
            }
        }
    }
}
