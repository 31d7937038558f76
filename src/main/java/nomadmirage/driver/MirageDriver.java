package nomadmirage.driver;

import java.util.concurrent.atomic.AtomicReference;
import nomadmirage.config.PluginConfig;
import nomadmirage.log.Logger;

/**
 * The driver as Nomad sees it, independent of gRPC: its configuration, its
 * fingerprint and its tasks.
 */
public final class MirageDriver implements AutoCloseable {
    private final AtomicReference<PluginConfig> config = new AtomicReference<>(PluginConfig.defaults());
    private final FingerprintPublisher fingerprints;
    private final TaskManager tasks;
    private final Logger log;
    private final ReconcileSchedule reconciles;

    /** {@code taskManagerFactory} receives the live configuration supplier. */
    public MirageDriver(Fingerprinter fingerprinter,
            java.util.function.Function<java.util.function.Supplier<PluginConfig>, TaskManager> taskManagerFactory,
            Logger log) {
        this.log = log;
        this.fingerprints = new FingerprintPublisher(fingerprinter, config::get, log.named("fingerprint"));
        this.tasks = taskManagerFactory.apply(config::get);
        this.reconciles = new ReconcileSchedule(config::get,
                () -> tasks.reconcile(config.get().reconcileDelay()), log.named("reconcile"));
        tasks.onReconcileNeeded(reconciles::requestSoon);
        tasks.onRecovering(reconciles::deferFirst);
    }

    public TaskManager tasks() {
        return tasks;
    }

    public PluginConfig config() {
        return config.get();
    }

    /**
     * Applies a validated configuration. Nomad sends the same one several times
     * (and to several processes), so applying an equal one changes nothing.
     */
    public void configure(PluginConfig next) {
        PluginConfig previous = config.getAndSet(next);
        log.setLevel(next.logLevel());
        reconciles.start();
        if (!next.equals(previous)) {
            log.debug("plugin configured", "bridge", next.bridge(), "subnet", next.subnet(),
                    "state_dir", next.stateDir(), "log_level", next.logLevel().hclogName());
            fingerprints.refreshIfStarted();
        }
    }

    public FingerprintPublisher fingerprints() {
        return fingerprints;
    }

    @Override
    public void close() {
        // What a destroy queued is removed before the plugin goes (a reconcile at the next start would do it later).
        tasks.awaitNetworkReleases(java.time.Duration.ofSeconds(5));
        reconciles.close();
        fingerprints.close();
    }
}
