package nomadmirage.task;

import java.util.ArrayDeque;
import java.util.Deque;
import nomadmirage.log.Logger;

/**
 * Undo steps recorded as a start acquires things; unless {@link #commit()} is
 * called, closing runs them in reverse order, continuing past failures.
 */
final class Cleanup implements AutoCloseable {
    interface Step {
        void undo() throws Exception;
    }

    private final Deque<Step> steps = new ArrayDeque<>();
    private final Logger log;
    private boolean committed;

    Cleanup(Logger log) {
        this.log = log;
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
                log.error("rollback step failed; manual cleanup may be needed", "error", e);
            }
        }
    }
}
