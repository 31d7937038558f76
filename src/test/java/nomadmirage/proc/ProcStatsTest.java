package nomadmirage.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import org.junit.jupiter.api.Test;

class ProcStatsTest {
    @Test
    void vmRssIsReadInBytes() {
        assertEquals(1540 * 1024L, ProcStats.parseVmRss("Name:\tsleep\nVmPeak:\t 2352 kB\nVmRSS:\t    1540 kB\nThreads:\t1\n"));
        assertEquals(0, ProcStats.parseVmRss("Name:\tzombie\nState:\tZ (zombie)\n"));
    }

    @Test
    void cpuPercentIsOfOneCpu() {
        long hz = ProcStats.ticksPerSecond();
        Instant t0 = Instant.ofEpochSecond(100);
        ProcessSample a = new ProcessSample(1000, 0, t0);
        ProcessSample b = new ProcessSample(1000 + hz / 2, 0, t0.plusSeconds(1));
        assertEquals(50.0, ProcStats.cpuPercent(a, b), 1e-9);
        assertEquals(200.0, ProcStats.cpuPercent(a, new ProcessSample(1000 + 4 * hz, 0, t0.plusSeconds(2))), 1e-9);
        assertEquals(0.0, ProcStats.cpuPercent(a, a));
    }

    @Test
    void sampleOfThisJvm() {
        ProcessIdentity me = ProcessIdentity.current(ProcessHandle.current().pid()).orElseThrow();
        ProcessSample sample = ProcStats.sample(me).orElseThrow();
        assertTrue(sample.rssBytes() > 0);
        assertTrue(sample.cpuTicks() >= 0);
        assertTrue(ProcStats.sample(new ProcessIdentity(me.pid(), me.startTicks() + 1)).isEmpty());
        assertTrue(ProcStats.sample(999_999_999L).isEmpty());
    }
}
