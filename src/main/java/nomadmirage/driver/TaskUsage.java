package nomadmirage.driver;

import java.time.Instant;

/** One stats sample of a task's tender: CPU (percent of one CPU since the previous sample) and memory. */
public record TaskUsage(long pid, double cpuPercent, long rssBytes, Instant at) {
}
