package nomadmirage.driver;

import java.time.Duration;
import java.util.Optional;
import java.util.function.Supplier;
import nomadmirage.cgroup.CgroupUsage;
import nomadmirage.proc.ProcStats;
import nomadmirage.proc.ProcessSample;

/**
 * Successive usage samples of one task's tender, for one stats stream; CPU is the share used since
 * the last sample. From the tender's cgroup when it has one (memory then includes the tender's own
 * overhead), else from /proc.
 */
public final class TaskUsageSampler {
    private final TaskHandle handle;
    private final Supplier<Optional<CgroupUsage>> cgroup;
    private ProcessSample previous;
    private CgroupUsage previousCgroup;

    TaskUsageSampler(TaskHandle handle) {
        this(handle, Optional::empty);
    }

    TaskUsageSampler(TaskHandle handle, Supplier<Optional<CgroupUsage>> cgroup) {
        this.handle = handle;
        this.cgroup = cgroup;
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
        long pid = handle.process().tender().pid();
        Optional<CgroupUsage> counted = cgroup.get();
        if (counted.isPresent()) {
            return Optional.of(fromCgroup(pid, sample.get().rssBytes(), counted.get()));
        }
        double percent = previous == null ? 0.0 : ProcStats.cpuPercent(previous, sample.get());
        previous = sample.get();
        return Optional.of(new TaskUsage(pid, percent, sample.get().rssBytes(), sample.get().at()));
    }

    private TaskUsage fromCgroup(long pid, long tenderRss, CgroupUsage now) {
        CgroupUsage before = previousCgroup;
        previousCgroup = now;
        double total = before == null ? 0 : percent(before, now, now.cpuNanos() - before.cpuNanos());
        double user = before == null ? 0 : percent(before, now, now.userNanos() - before.userNanos());
        double system = before == null ? 0 : percent(before, now, now.systemNanos() - before.systemNanos());
        // v1 memory.stat's rss leaves out what the tender maps from files; the process's own figure never does.
        long rss = Math.max(now.rssBytes(), tenderRss);
        return new TaskUsage(pid, total, rss, now.at(), Optional.of(new TaskUsage.CgroupFigures(now.memoryBytes(),
                now.maxMemoryBytes(), now.cacheBytes(), user, system, now.throttledPeriods(), now.throttledNanos())));
    }

    private static double percent(CgroupUsage before, CgroupUsage now, long nanos) {
        long wall = Duration.between(before.at(), now.at()).toNanos();
        return wall <= 0 || nanos <= 0 ? 0 : nanos * 100.0 / wall;
    }
}
