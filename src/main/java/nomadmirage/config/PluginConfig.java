package nomadmirage.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import nomadmirage.log.LogLevel;

/**
 * The agent-side configuration of the plugin (the {@code config {}} of the
 * agent's {@code plugin "nomad-driver-mirage"} block), validated.
 */
public record PluginConfig(
        String solo5Hvt,
        String solo5Spt,
        String qemu,
        String bridge,
        Ipv4Cidr subnet,
        Path stateDir,
        List<Path> imagePaths,
        LogLevel logLevel,
        Duration fingerprintPeriod,
        String defaultUser,
        boolean qemuAutoKvm,
        Limits limits,
        String macOui,
        int mtu,
        boolean isolateTasks,
        Reconcile reconcile,
        String cgroupParent) {

    public static final String DEFAULT_HVT = "solo5-hvt";
    public static final String DEFAULT_SPT = "solo5-spt";
    public static final String DEFAULT_QEMU = "qemu-system-x86_64";
    public static final String DEFAULT_BRIDGE = "mirage0";
    public static final String DEFAULT_SUBNET = "10.99.0.0/16";
    /** Run-time state only (a reboot ends every process and tap it describes): a tmpfs on systemd hosts. */
    public static final String DEFAULT_STATE_DIR = "/run/nomad-driver-mirage";
    public static final String DEFAULT_LOG_LEVEL = "info";
    public static final String DEFAULT_FINGERPRINT_PERIOD = "30s";
    /** No default user: a task that names none runs as a uid of its own from {@link Limits#taskUids()}. */
    public static final String DEFAULT_USER = "";
    /** The OUI the original plugin used for unikernel MACs. */
    public static final String DEFAULT_MAC_OUI = "00:80:41";
    public static final int DEFAULT_MTU = 1500;
    public static final String DEFAULT_RECONCILE_DELAY = "2m";
    public static final String DEFAULT_RECONCILE_INTERVAL = "5m";
    public static final String DEFAULT_MAX_BLOCK_SIZE = "16GiB";
    /** Each tender's cgroup is {@code <hierarchy>/nomad-mirage/<task>}, beside Nomad's own {@code /nomad}. */
    public static final String DEFAULT_CGROUP_PARENT = "nomad-mirage";

    /** With the default cgroup parent. */
    public PluginConfig(String solo5Hvt, String solo5Spt, String qemu, String bridge, Ipv4Cidr subnet, Path stateDir,
            List<Path> imagePaths, LogLevel logLevel, Duration fingerprintPeriod, String defaultUser, boolean qemuAutoKvm,
            Limits limits, String macOui, int mtu, boolean isolateTasks, Reconcile reconcile) {
        this(solo5Hvt, solo5Spt, qemu, bridge, subnet, stateDir, imagePaths, logLevel, fingerprintPeriod, defaultUser,
                qemuAutoKvm, limits, macOui, mtu, isolateTasks, reconcile, DEFAULT_CGROUP_PARENT);
    }

    /**
     * When orphans are removed: first {@code delay} after start-up (time for Nomad to recover its
     * tasks), then every {@code interval}; {@code delay} is also how long an ended, untracked tender's
     * run directory is kept for Nomad to recover its exit status.
     */
    public record Reconcile(Duration delay, Duration interval) {
    }

    /**
     * What a job may ask of this node.
     *
     * @param qemuAllowedArgs the qemu options a job may add, each mapped to the regular expression its
     *     value must match as a whole; an empty expression marks an option that takes no value
     * @param maxBlockBytes the largest block file the driver creates for a job ({@code block.size})
     * @param allowedUsers the users (names or uids) tenders may run as; empty means any user but root
     * @param taskUids the uids given out one per task to tasks that name no user; no job may name one
     */
    public record Limits(Map<String, String> qemuAllowedArgs, long maxBlockBytes, List<String> allowedUsers,
            UidRange taskUids) {
        public Limits {
            qemuAllowedArgs = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(qemuAllowedArgs));
            allowedUsers = List.copyOf(allowedUsers);
            java.util.Objects.requireNonNull(taskUids, "taskUids");
        }

        public Limits(Map<String, String> qemuAllowedArgs, long maxBlockBytes, List<String> allowedUsers) {
            this(qemuAllowedArgs, maxBlockBytes, allowedUsers, UidRange.defaults());
        }

        public static Limits defaults() {
            return new Limits(Map.of(), ByteSize.parse(DEFAULT_MAX_BLOCK_SIZE), List.of());
        }
    }

    public Duration reconcileDelay() {
        return reconcile.delay();
    }

    public PluginConfig {
        imagePaths = List.copyOf(imagePaths);
    }

    /** The configuration used before the host sends one (and by operator commands). */
    public static PluginConfig defaults() {
        return new PluginConfig(DEFAULT_HVT, DEFAULT_SPT, DEFAULT_QEMU, DEFAULT_BRIDGE,
                Ipv4Cidr.parse(DEFAULT_SUBNET), StateDirDefault.effective(Path.of(DEFAULT_STATE_DIR)), List.of(), LogLevel.INFO,
                Duration.ofSeconds(30), DEFAULT_USER, false, Limits.defaults(), DEFAULT_MAC_OUI, DEFAULT_MTU,
                false, new Reconcile(Duration.ofMinutes(2), Duration.ofMinutes(5)));
    }
}
