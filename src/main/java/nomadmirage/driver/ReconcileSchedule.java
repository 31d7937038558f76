package nomadmirage.driver;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import nomadmirage.config.PluginConfig;
import nomadmirage.log.Logger;

/**
 * When the lifecycle reconciles: first {@code reconcile_delay} after the plugin is configured and
 * after the last task recovery before that (by then Nomad has recovered the tasks it still knows),
 * then every {@code reconcile_interval}, and a few seconds after something asked for it (a failed
 * detach) — runs never overlap.
 *
 * <p>The first run stops the tender of every task nobody recovered. A restarted Nomad agent recovers
 * its tasks one RecoverTask after another (about 25 ms each, so seconds for hundreds), so while
 * recoveries keep coming in, the first run is pushed back to {@code reconcile_delay} after the last
 * one: a short delay cannot end tasks the agent is still recovering.
 */
final class ReconcileSchedule implements AutoCloseable {
    static final Duration SOON = Duration.ofSeconds(5);

    private final Supplier<PluginConfig> config;
    private final Runnable reconcile;
    private final Logger log;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("reconcile").factory());
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean soonPending = new AtomicBoolean();
    private volatile boolean firstDone;
    /** System.nanoTime() before which the first run does not start. */
    private volatile long firstNotBefore;

    ReconcileSchedule(Supplier<PluginConfig> config, Runnable reconcile, Logger log) {
        this.config = config;
        this.reconcile = reconcile;
        this.log = log;
    }

    /** Starts the schedule once; later calls do nothing. */
    void start() {
        if (started.compareAndSet(false, true)) {
            long delay = config.get().reconcileDelay().toNanos();
            firstNotBefore = System.nanoTime() + delay;
            timer.schedule(this::first, delay, TimeUnit.NANOSECONDS);
        }
    }

    /**
     * A task is being recovered: Nomad is restoring what it holds, so the first run waits until
     * {@code reconcile_delay} has passed since now. Does nothing once the first run has started.
     */
    void deferFirst() {
        if (!firstDone) {
            long until = System.nanoTime() + config.get().reconcileDelay().toNanos();
            synchronized (this) {
                if (until - firstNotBefore > 0) {
                    firstNotBefore = until;
                }
            }
        }
    }

    private void first() {
        long wait = firstNotBefore - System.nanoTime();
        if (wait > 0) {
            timer.schedule(this::first, wait, TimeUnit.NANOSECONDS);
            return;
        }
        firstDone = true;
        periodic();
    }

    /** Asks for a run in a few seconds (coalesced); before the first run, that run covers it. */
    void requestSoon() {
        if (firstDone && soonPending.compareAndSet(false, true)) {
            timer.schedule(() -> {
                soonPending.set(false);
                runSafely();
            }, SOON.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void periodic() {
        runSafely();
        timer.schedule(this::periodic, config.get().reconcile().interval().toMillis(), TimeUnit.MILLISECONDS);
    }

    private void runSafely() {
        try {
            reconcile.run();
            log.debug("reconcile done");
        } catch (RuntimeException e) {
            log.error("reconcile failed; the next one retries", "error", e);
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
