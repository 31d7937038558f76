package nomadmirage.driver;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.concurrent.CompletableFuture;
import nomadmirage.proc.SupervisedProcess;
import nomadmirage.tender.TenderKind;

/**
 * One live (or finished) task: its supervised tender, its state machine and
 * how it ended. The lock guards the state and the completion time.
 */
public final class TaskHandle {
    private final TaskId id;
    private final TaskRecord record;
    private final byte[] sealedState;
    private final SupervisedProcess process;
    private final CompletableFuture<ExitOutcome> outcome = new CompletableFuture<>();
    private final Object lock = new Object();
    private final List<Consumer<ExitOutcome>> exitListeners = new ArrayList<>();
    private TaskState state;
    private volatile boolean stopRequested;
    private final boolean recovered;
    private Instant completedAt;

    TaskHandle(TaskId id, TaskRecord record, byte[] sealedState, SupervisedProcess process, TaskState initial) {
        this(id, record, sealedState, process, initial, false);
    }

    /** {@code recovered}: found again after a plugin restart, so a stop asked of an earlier plugin is unknown. */
    TaskHandle(TaskId id, TaskRecord record, byte[] sealedState, SupervisedProcess process, TaskState initial,
            boolean recovered) {
        this.recovered = recovered;
        this.id = id;
        this.record = record;
        this.sealedState = sealedState.clone();
        this.process = process;
        this.state = initial;
    }

    public TaskId id() {
        return id;
    }

    public DriverState driverState() {
        return record.state();
    }

    /** What goes into the task handle Nomad keeps: the driver state sealed with the node's key ({@link DriverStateSeal}). */
    public byte[] sealedDriverState() {
        return sealedState.clone();
    }

    /** The plugin's own record: driver state plus what was launched. */
    public TaskRecord record() {
        return record;
    }

    public SupervisedProcess process() {
        return process;
    }

    /** The tender's name as operators write it, e.g. {@code solo5-hvt}. */
    public String tenderName() {
        return record.state().tender().configName();
    }

    /** The tender's pid (for display: signals go through {@link #process()}, which checks its identity). */
    public long tenderPid() {
        return process.tender().pid();
    }

    public TenderKind tender() {
        return record.state().tender();
    }

    public Instant startedAt() {
        return Instant.EPOCH.plusNanos(record.state().startedAtNanos());
    }

    /** Completes once the tender has ended and its exit status is known. */
    public CompletableFuture<ExitOutcome> outcome() {
        return outcome;
    }

    public TaskState state() {
        synchronized (lock) {
            return state;
        }
    }

    public Instant completedAt() {
        synchronized (lock) {
            return completedAt;
        }
    }

    /** The driver asked the tender to end (stop, forced destroy): its end is then no crash. */
    void markStopRequested() {
        stopRequested = true;
    }

    /** Whether the driver asked for the end; unknown for a task recovered after a plugin restart. */
    StopRequest stopRequest() {
        return stopRequested ? StopRequest.REQUESTED : recovered ? StopRequest.UNKNOWN : StopRequest.NOT_REQUESTED;
    }

    /** Moves to {@code target}; an illegal transition is a bug and throws. */
    void moveTo(TaskState target) {
        synchronized (lock) {
            if (!state.canMoveTo(target)) {
                throw new IllegalStateException("task " + id + ": illegal transition " + state + " -> " + target);
            }
            state = target;
        }
    }

    /** Moves to {@code target} only from {@code expected}; false when the task was elsewhere. */
    boolean moveIf(TaskState expected, TaskState target) {
        synchronized (lock) {
            if (state != expected) {
                return false;
            }
            moveTo(target);
            return true;
        }
    }

    void exited(ExitOutcome result, Instant at) {
        synchronized (lock) {
            if (state != TaskState.EXITED && state != TaskState.DESTROYED) {
                moveTo(TaskState.EXITED);
            }
            completedAt = at;
        }
        outcome.complete(result);
        List<Consumer<ExitOutcome>> waiting;
        synchronized (exitListeners) {
            waiting = List.copyOf(exitListeners);
            exitListeners.clear();
        }
        waiting.forEach(listener -> listener.accept(result));
    }

    /**
     * Calls {@code listener} once with the outcome when the task ends (at once if it has). Unlike a
     * callback on {@link #outcome()}, it can be taken back: a cancelled WaitTask leaves nothing behind.
     */
    public Runnable onExit(Consumer<ExitOutcome> listener) {
        synchronized (exitListeners) {
            if (!outcome.isDone()) {
                exitListeners.add(listener);
                return () -> {
                    synchronized (exitListeners) {
                        exitListeners.remove(listener);
                    }
                };
            }
        }
        listener.accept(outcome.join());
        return () -> { };
    }

    /** How many {@link #onExit} listeners are still registered (for leak checks). */
    public int exitListenerCount() {
        synchronized (exitListeners) {
            return exitListeners.size();
        }
    }
}
