package nomadmirage.proc;

import java.time.Instant;

/** CPU time used so far (utime + stime, clock ticks) and resident memory of one process at one moment. */
public record ProcessSample(long cpuTicks, long rssBytes, Instant at) {
}
