package nomadmirage.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CgroupUsageTest {
    @TempDir
    Path dir;

    @Test
    void v1ReadsMemoryCpuTimeAndThrottling() throws IOException {
        Path memory = Files.createDirectories(dir.resolve("memory"));
        Files.writeString(memory.resolve("memory.usage_in_bytes"), "10485760\n");
        Files.writeString(memory.resolve("memory.max_usage_in_bytes"), "20971520\n");
        Files.writeString(memory.resolve("memory.stat"), "cache 4096\nrss 8192\nrss_huge 0\ntotal_rss 8192\n");
        Path cpuacct = Files.createDirectories(dir.resolve("cpuacct"));
        Files.writeString(cpuacct.resolve("cpuacct.usage"), "1500000000\n");
        Files.writeString(cpuacct.resolve("cpuacct.stat"), "user 120\nsystem 30\n");
        Path cpu = Files.createDirectories(dir.resolve("cpu"));
        Files.writeString(cpu.resolve("cpu.stat"), "nr_periods 10\nnr_throttled 3\nthrottled_time 4000\n");
        CgroupUsage usage = CgroupUsage.read(new TaskCgroupDirs(CgroupVersion.V1, Optional.of(memory),
                Optional.of(cpuacct), Optional.of(cpu))).orElseThrow();
        assertEquals(10485760, usage.memoryBytes());
        assertEquals(20971520, usage.maxMemoryBytes());
        assertEquals(8192, usage.rssBytes());
        assertEquals(4096, usage.cacheBytes());
        assertEquals(1_500_000_000L, usage.cpuNanos());
        assertEquals(1_200_000_000L, usage.userNanos());
        assertEquals(300_000_000L, usage.systemNanos());
        assertEquals(3, usage.throttledPeriods());
        assertEquals(4000, usage.throttledNanos());
    }

    @Test
    void v2ReadsTheUnifiedFiles() throws IOException {
        Files.writeString(dir.resolve("memory.current"), "5242880\n");
        Files.writeString(dir.resolve("memory.stat"), "anon 1048576\nfile 2048\n");
        Files.writeString(dir.resolve("cpu.stat"), "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\n"
                + "nr_periods 0\nnr_throttled 7\nthrottled_usec 9\n");
        CgroupUsage usage = CgroupUsage.read(new TaskCgroupDirs(CgroupVersion.V2, Optional.of(dir), Optional.of(dir),
                Optional.of(dir))).orElseThrow();
        assertEquals(5242880, usage.memoryBytes());
        assertEquals(0, usage.maxMemoryBytes());
        assertEquals(1048576, usage.rssBytes());
        assertEquals(2048, usage.cacheBytes());
        assertEquals(2_000_000, usage.cpuNanos());
        assertEquals(1_500_000, usage.userNanos());
        assertEquals(7, usage.throttledPeriods());
        assertEquals(9000, usage.throttledNanos());
    }

    @Test
    void aRemovedCgroupHasNoUsage() {
        assertTrue(CgroupUsage.read(new TaskCgroupDirs(CgroupVersion.V1, Optional.of(dir.resolve("gone")),
                Optional.empty(), Optional.empty())).isEmpty());
    }
}
