package nomadmirage.driver;

import java.util.concurrent.atomic.AtomicReference;
import nomadmirage.config.PluginConfig;
import nomadmirage.log.Logger;

/**
 * The driver as Nomad sees it, independent of gRPC: its configuration and its
 * fingerprint. (Task lifecycle joins here as it is built.)
 */
public final class MirageDriver implements AutoCloseable {
    private final AtomicReference<PluginConfig> config = new AtomicReference<>(PluginConfig.defaults());
    private final FingerprintPublisher fingerprints;
    private final Logger log;

    public MirageDriver(Fingerprinter fingerprinter, Logger log) {
        this.log = log;
        this.fingerprints = new FingerprintPublisher(fingerprinter, config::get, log.named("fingerprint"));
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
        fingerprints.close();
    }
}
