package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import nomadmirage.proc.ExitStatus;
import nomadmirage.proc.ProcessIdentity;
import nomadmirage.proc.SupervisedProcess;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;

/** Stats are sampled through the tender's identity (pid + start time), never by a bare pid that may be reused. */
class TaskUsageSamplerTest {
    private static TaskHandle handleFor(ProcessIdentity tender) {
        SupervisedProcess process = new SupervisedProcess() {
            @Override
            public ProcessIdentity tender() {
                return tender;
            }

            @Override
            public ProcessIdentity supervisor() {
                return tender;
            }

            @Override
            public Path runDir() {
                return Path.of("/nonexistent");
            }

            @Override
            public CompletableFuture<ExitStatus> exit() {
                return new CompletableFuture<>();
            }

            @Override
            public boolean signal(int signo) {
                return false;
            }

            @Override
            public boolean isAlive() {
                return tender.isAlive();
            }
        };
        DriverState state = new DriverState(DriverState.CURRENT_VERSION, new DriverState.Task("a/t/1", "a", "t"),
                TenderKind.SOLO5_HVT, 0, DriverState.Network.NONE);
        return new TaskHandle(new TaskId("a/t/1"), new TaskRecord(state, TaskRecord.Launch.UNKNOWN), new byte[0], process,
                TaskState.RUNNING);
    }

    @Test
    void theLiveTenderIsSampled() {
        ProcessIdentity self = ProcessIdentity.current(ProcessHandle.current().pid()).orElseThrow();
        Optional<TaskUsage> usage = new TaskUsageSampler(handleFor(self)).next();
        assertTrue(usage.isPresent());
        assertEquals(self.pid(), usage.get().pid());
        assertTrue(usage.get().rssBytes() > 0, usage.toString());
    }

    @Test
    void aPidNowHeldByAnotherProcessIsNotSampled() {
        ProcessIdentity self = ProcessIdentity.current(ProcessHandle.current().pid()).orElseThrow();
        // Same pid, other start time: the tender ended and its pid was reused by this JVM.
        ProcessIdentity reused = new ProcessIdentity(self.pid(), self.startTicks() + 1);
        assertEquals(Optional.empty(), new TaskUsageSampler(handleFor(reused)).next());
    }

    @Test
    void cpuIsTheShareUsedSinceTheLastSample() {
        ProcessIdentity self = ProcessIdentity.current(ProcessHandle.current().pid()).orElseThrow();
        TaskUsageSampler sampler = new TaskUsageSampler(handleFor(self));
        assertEquals(0.0, sampler.next().orElseThrow().cpuPercent(), "no previous sample, no share yet");
        long until = System.nanoTime() + 200_000_000L;
        double sink = 0;
        while (System.nanoTime() < until) {
            sink += Math.sqrt(sink + 1);
        }
        assertTrue(sink > 0);
        // 200 ms of busy work on one core are 20 clock ticks at USER_HZ 100: the share cannot be zero.
        assertTrue(sampler.next().orElseThrow().cpuPercent() > 0, "a share is computed from two samples");
    }
}
