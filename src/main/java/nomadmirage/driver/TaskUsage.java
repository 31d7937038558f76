package nomadmirage.driver;

import java.time.Instant;
import java.util.Optional;

/**
 * One stats sample of a task's tender: CPU (percent of one CPU since the previous sample) and memory.
 * With a cgroup, {@code cgroup} adds what it counts: memory including the tender's own overhead and
 * page cache, the user/system split and CPU throttling.
 */
public record TaskUsage(long pid, double cpuPercent, long rssBytes, Instant at, Optional<CgroupFigures> cgroup) {
    /** Usage as the tender's cgroup counts it; percentages since the previous sample. */
    public record CgroupFigures(long memoryBytes, long maxMemoryBytes, long cacheBytes, double userPercent,
            double systemPercent, long throttledPeriods, long throttledNanos) {
    }

    /** A sample read from /proc alone. */
    public TaskUsage(long pid, double cpuPercent, long rssBytes, Instant at) {
        this(pid, cpuPercent, rssBytes, at, Optional.empty());
    }
}
