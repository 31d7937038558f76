package nomadmirage.proc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/** Resource usage of a process from /proc/PID/stat and /proc/PID/status. */
public final class ProcStats {
    private static final long DEFAULT_TICKS_PER_SECOND = 100;
    private static volatile long ticksPerSecond;

    private ProcStats() {
    }

    /** Empty when the process is gone or the pid now belongs to another process. */
    public static Optional<ProcessSample> sample(ProcessIdentity process) {
        Optional<ProcessSample> sample = sample(process.pid());
        // Checked after reading, so the numbers cannot come from a process that reused the pid.
        return process.isAlive() ? sample : Optional.empty();
    }

    public static Optional<ProcessSample> sample(long pid) {
        Instant at = Instant.now();
        Optional<StatLine> stat = StatLine.read(pid);
        if (stat.isEmpty()) {
            return Optional.empty();
        }
        long rss;
        try {
            rss = parseVmRss(Files.readString(Path.of("/proc", Long.toString(pid), "status")));
        } catch (IOException e) {
            return Optional.empty();
        }
        return Optional.of(new ProcessSample(stat.get().utime() + stat.get().stime(), rss, at));
    }

    /** Percent of one CPU used between two samples of the same process (200 = two CPUs busy). */
    public static double cpuPercent(ProcessSample earlier, ProcessSample later) {
        long nanos = Duration.between(earlier.at(), later.at()).toNanos();
        long ticks = later.cpuTicks() - earlier.cpuTicks();
        if (nanos <= 0 || ticks <= 0) {
            return 0;
        }
        return ticks * 100.0 * 1e9 / ticksPerSecond() / nanos;
    }

    /** The kernel's USER_HZ; 100 on every mainstream Linux, asked of getconf once to be sure. */
    public static long ticksPerSecond() {
        long value = ticksPerSecond;
        if (value == 0) {
            value = DEFAULT_TICKS_PER_SECOND;
            try {
                CommandResult result = new ProcessCommandRunner().run(List.of("getconf", "CLK_TCK"), Duration.ofSeconds(5));
                if (result.succeeded()) {
                    long parsed = Long.parseLong(result.stdout().strip());
                    if (parsed > 0) {
                        value = parsed;
                    }
                }
            } catch (IOException | NumberFormatException e) {
                // keep the default
            }
            ticksPerSecond = value;
        }
        return value;
    }

    /** VmRSS in bytes; 0 when absent (zombies and kernel threads have none). */
    static long parseVmRss(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("VmRSS:")) {
                String[] parts = line.substring(6).strip().split("\\s+");
                long kib = Long.parseLong(parts[0]);
                return kib * 1024;
            }
        }
        return 0;
    }
}
