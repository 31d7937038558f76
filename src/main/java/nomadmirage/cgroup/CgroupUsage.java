package nomadmirage.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A tender's usage as its cgroup counts it: memory including the tender's own overhead (and the page
 * cache it caused), CPU time in nanoseconds, and how often the CPU controller throttled it.
 * Fields a node does not count are 0.
 */
public record CgroupUsage(long memoryBytes, long maxMemoryBytes, long rssBytes, long cacheBytes, long cpuNanos,
        long userNanos, long systemNanos, long throttledPeriods, long throttledNanos, Instant at) {
    private static final long NANOS_PER_USER_HZ_TICK = 10_000_000L; // USER_HZ is 100 on every mainstream Linux

    /** Empty when the task's cgroups are gone (the tender ended and its supervisor removed them). */
    public static Optional<CgroupUsage> read(TaskCgroupDirs dirs) {
        Instant at = Instant.now();
        try {
            return switch (dirs.version()) {
                case NONE -> Optional.empty();
                case V1 -> Optional.of(readV1(dirs, at));
                case V2 -> Optional.of(readV2(dirs, at));
            };
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // the cgroup is gone (its tender ended) or unreadable: no sample
        }
    }

    private static CgroupUsage readV1(TaskCgroupDirs dirs, Instant at) throws IOException {
        long memory = 0;
        long max = 0;
        long rss = 0;
        long cache = 0;
        if (dirs.memory().isPresent()) {
            Path dir = dirs.memory().get();
            memory = number(dir.resolve("memory.usage_in_bytes"));
            max = number(dir.resolve("memory.max_usage_in_bytes"));
            Map<String, Long> stat = keyed(dir.resolve("memory.stat"));
            rss = stat.getOrDefault("rss", 0L);
            cache = stat.getOrDefault("cache", 0L);
        }
        long cpu = 0;
        long user = 0;
        long system = 0;
        if (dirs.cpuacct().isPresent()) {
            Path dir = dirs.cpuacct().get();
            cpu = number(dir.resolve("cpuacct.usage"));
            Map<String, Long> stat = keyed(dir.resolve("cpuacct.stat"));
            user = stat.getOrDefault("user", 0L) * NANOS_PER_USER_HZ_TICK;
            system = stat.getOrDefault("system", 0L) * NANOS_PER_USER_HZ_TICK;
        }
        long periods = 0;
        long throttled = 0;
        if (dirs.cpu().isPresent()) {
            Map<String, Long> stat = keyed(dirs.cpu().get().resolve("cpu.stat"));
            periods = stat.getOrDefault("nr_throttled", 0L);
            throttled = stat.getOrDefault("throttled_time", 0L);
        }
        return new CgroupUsage(memory, max, rss, cache, cpu, user, system, periods, throttled, at);
    }

    private static CgroupUsage readV2(TaskCgroupDirs dirs, Instant at) throws IOException {
        long memory = 0;
        long max = 0;
        long rss = 0;
        long cache = 0;
        if (dirs.memory().isPresent()) {
            Path dir = dirs.memory().get();
            memory = number(dir.resolve("memory.current"));
            Path peak = dir.resolve("memory.peak");
            max = Files.exists(peak) ? number(peak) : 0;
            Map<String, Long> stat = keyed(dir.resolve("memory.stat"));
            rss = stat.getOrDefault("anon", 0L);
            cache = stat.getOrDefault("file", 0L);
        }
        Map<String, Long> cpu = dirs.cpu().isPresent() ? keyed(dirs.cpu().get().resolve("cpu.stat")) : Map.of();
        return new CgroupUsage(memory, max, rss, cache, cpu.getOrDefault("usage_usec", 0L) * 1000,
                cpu.getOrDefault("user_usec", 0L) * 1000, cpu.getOrDefault("system_usec", 0L) * 1000,
                cpu.getOrDefault("nr_throttled", 0L), cpu.getOrDefault("throttled_usec", 0L) * 1000, at);
    }

    static long number(Path file) throws IOException {
        return Long.parseLong(Files.readString(file).strip());
    }

    /** "key value" lines (memory.stat, cpu.stat, cpuacct.stat). */
    static Map<String, Long> keyed(Path file) throws IOException {
        return parseKeyed(Files.readString(file));
    }

    static Map<String, Long> parseKeyed(String text) {
        Map<String, Long> values = new HashMap<>();
        for (String line : text.split("\n")) {
            String[] parts = line.strip().split("\\s+");
            if (parts.length == 2 && parts[1].matches("\\d{1,19}")) {
                values.put(parts[0], Long.parseLong(parts[1]));
            }
        }
        return values;
    }
}
