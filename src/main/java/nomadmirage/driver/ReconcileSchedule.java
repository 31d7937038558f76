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
 * When the lifecycle reconciles: first {@code reconcile_delay} after the plugin is configured (by
 * then Nomad has recovered the tasks it still knows), then every {@code reconcile_interval}, and a
 * few seconds after something asked for it (a failed detach) — runs never overlap.
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

    ReconcileSchedule(Supplier<PluginConfig> config, Runnable reconcile, Logger log) {
        this.config = config;
        this.reconcile = reconcile;
        this.log = log;
    }

    /** Starts the schedule once; later calls do nothing. */
    void start() {
        if (started.compareAndSet(false, true)) {
            timer.schedule(this::periodic, config.get().reconcileDelay().toMillis(), TimeUnit.MILLISECONDS);
        }
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
        firstDone = true;
        timer.schedule(this::periodic, config.get().reconcile().interval().toMillis(), TimeUnit.MILLISECONDS);
    }

    private void runSafely() {
        try {
            reconcile.run();
        } catch (RuntimeException e) {
            log.error("reconcile failed; the next one retries", "error", e);
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
