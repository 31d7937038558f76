package nomadmirage.driver;

import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import nomadmirage.config.PluginConfig;
import nomadmirage.log.Logger;

/**
 * Keeps the node fingerprint current for the plugin's life: subscribers get the
 * current fingerprint at once, then a new one whenever it changes. It is
 * recomputed every {@code fingerprint_period} and on demand (e.g. after the
 * configuration changed).
 */
public final class FingerprintPublisher implements AutoCloseable {
    private final Fingerprinter fingerprinter;
    private final Supplier<PluginConfig> config;
    private final Logger log;
    private final Set<Consumer<Fingerprint>> subscribers = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("fingerprint").factory());
    private volatile Fingerprint current;
    private ScheduledFuture<?> periodic;
    private long scheduledPeriodMillis = -1;

    public FingerprintPublisher(Fingerprinter fingerprinter, Supplier<PluginConfig> config, Logger log) {
        this.fingerprinter = fingerprinter;
        this.config = config;
        this.log = log;
    }

    /**
     * Hands {@code subscriber} the current fingerprint, then every change. Both happen under the
     * publisher's lock, so a concurrent change can never overtake the first message.
     */
    public synchronized Fingerprint subscribe(Consumer<Fingerprint> subscriber) {
        Fingerprint now = current();
        subscriber.accept(now);
        subscribers.add(subscriber);
        return now;
    }

    public void unsubscribe(Consumer<Fingerprint> subscriber) {
        subscribers.remove(subscriber);
    }

    public synchronized Fingerprint current() {
        if (current == null) {
            current = fingerprinter.fingerprint(config.get());
            schedule();
        }
        return current;
    }

    /** After a configuration change: recompute in the background, but only once someone asked. */
    public void refreshIfStarted() {
        synchronized (this) {
            if (current == null) {
                return;
            }
        }
        timer.execute(this::refreshSafely);
    }

    /** Recomputes now and notifies subscribers if anything changed. */
    public void refresh() {
        Fingerprint next = fingerprinter.fingerprint(config.get());
        synchronized (this) {
            Fingerprint previous = current;
            current = next;
            schedule();
            if (!Objects.equals(previous, next)) {
                if (previous == null || previous.health() != next.health()) {
                    log.info("driver health changed", "health", next.health().name(), "description", next.description());
                }
                subscribers.forEach(s -> s.accept(next));
            }
        }
    }

    private void schedule() {
        long period = config.get().fingerprintPeriod().toMillis();
        if (period == scheduledPeriodMillis) {
            return;
        }
        if (periodic != null) {
            periodic.cancel(false);
        }
        periodic = timer.scheduleWithFixedDelay(this::refreshSafely, period, period, TimeUnit.MILLISECONDS);
        scheduledPeriodMillis = period;
    }

    private void refreshSafely() {
        try {
            refresh();
        } catch (RuntimeException e) {
            log.error("fingerprint failed", "error", e);
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        subscribers.clear();
    }
}
