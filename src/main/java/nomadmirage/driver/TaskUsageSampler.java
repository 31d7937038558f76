package nomadmirage.driver;

import java.util.Optional;
import nomadmirage.proc.ProcStats;
import nomadmirage.proc.ProcessSample;

/** Successive usage samples of one task's tender, for one stats stream; CPU is the share used since the last sample. */
public final class TaskUsageSampler {
    private final TaskHandle handle;
    private ProcessSample previous;

    TaskUsageSampler(TaskHandle handle) {
        this.handle = handle;
    }

    /** Empty once the task has ended or its tender is gone. */
    public Optional<TaskUsage> next() {
        if (handle.outcome().isDone()) {
            return Optional.empty();
        }
        Optional<ProcessSample> sample = handle.process().sample();
        if (sample.isEmpty()) {
            return Optional.empty();
        }
        double percent = previous == null ? 0.0 : ProcStats.cpuPercent(previous, sample.get());
        previous = sample.get();
        return Optional.of(new TaskUsage(handle.process().tender().pid(), percent, sample.get().rssBytes(),
                sample.get().at()));
    }
}
