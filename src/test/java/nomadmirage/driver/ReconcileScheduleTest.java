package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.PluginConfigParser;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The first reconcile stops the tender of every task nobody recovered, so it must not run while a
 * restarted agent is still recovering its tasks (AgentCrashIT found a relaunched plugin with a 1 s
 * reconcile_delay ending tasks whose RecoverTask had not come yet: Nomad restarted them).
 */
@Timeout(30)
class ReconcileScheduleTest {
    private static final Duration DELAY = Duration.ofMillis(400);
    private static final Logger LOG = Logger.root("test", new LogSink(OutputStream.nullOutputStream()), LogLevel.ERROR);

    private static PluginConfig config(Duration delay) throws Exception {
        return PluginConfigParser.parse(Map.of("reconcile_delay", delay.toMillis() + "ms", "reconcile_interval", "1h"));
    }

    @Test
    void theFirstRunWaitsTheDelayAfterTheLastRecovery() throws Exception {
        PluginConfig config = config(DELAY);
        CountDownLatch ran = new CountDownLatch(1);
        AtomicLong ranAt = new AtomicLong();
        try (ReconcileSchedule schedule = new ReconcileSchedule(() -> config, () -> {
            ranAt.set(System.nanoTime());
            ran.countDown();
        }, LOG)) {
            long started = System.nanoTime();
            schedule.start();
            // Recoveries keep coming for three delays' worth of time, as from a restarted agent with many tasks.
            long lastRecovery = started;
            while (System.nanoTime() - started < DELAY.toNanos() * 3) {
                schedule.deferFirst();
                lastRecovery = System.nanoTime();
                assertEquals(1, ran.getCount(), "the first reconcile ran while tasks were still being recovered");
                Thread.sleep(DELAY.toMillis() / 8);
            }
            assertTrue(ran.await(10, TimeUnit.SECONDS), "the first reconcile never ran");
            long afterLast = ranAt.get() - lastRecovery;
            assertTrue(afterLast >= DELAY.toNanos(), "the first reconcile ran " + afterLast / 1_000_000
                    + " ms after the last recovery, before reconcile_delay (" + DELAY.toMillis() + " ms)");
        }
    }

    @Test
    void withoutRecoveriesTheFirstRunComesTheDelayAfterStart() throws Exception {
        PluginConfig config = config(DELAY);
        CountDownLatch ran = new CountDownLatch(1);
        try (ReconcileSchedule schedule = new ReconcileSchedule(() -> config, ran::countDown, LOG)) {
            long started = System.nanoTime();
            schedule.start();
            assertTrue(ran.await(10, TimeUnit.SECONDS), "the first reconcile never ran");
            long after = System.nanoTime() - started;
            assertTrue(after >= DELAY.toNanos(), "ran after " + after / 1_000_000 + " ms");
        }
    }

    @Test
    void recoveriesAfterTheFirstRunDoNotDelayTheLaterOnes() throws Exception {
        PluginConfig config = PluginConfigParser.parse(Map.of("reconcile_delay", "100ms", "reconcile_interval", "1s"));
        AtomicInteger runs = new AtomicInteger();
        CountDownLatch first = new CountDownLatch(1);
        CountDownLatch second = new CountDownLatch(1);
        try (ReconcileSchedule schedule = new ReconcileSchedule(() -> config, () -> {
            if (runs.incrementAndGet() == 1) {
                first.countDown();
            } else {
                second.countDown();
            }
        }, LOG)) {
            schedule.start();
            assertTrue(first.await(10, TimeUnit.SECONDS), "the first reconcile never ran");
            long after = System.nanoTime();
            schedule.deferFirst(); // a task recovered later (a plugin relaunched while the agent ran on)
            assertTrue(second.await(10, TimeUnit.SECONDS), "the periodic reconcile never ran");
            long gap = System.nanoTime() - after;
            assertTrue(gap < Duration.ofSeconds(3).toNanos(), "the periodic reconcile came " + gap / 1_000_000
                    + " ms after the first instead of reconcile_interval (1 s)");
        }
    }
}
