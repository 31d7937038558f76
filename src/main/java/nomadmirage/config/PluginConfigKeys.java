package nomadmirage.config;

import java.util.List;

/** The keys of the agent-side plugin configuration, shared by the schema and the parser. */
public final class PluginConfigKeys {
    public static final String SOLO5_HVT = "solo5_hvt";
    public static final String SOLO5_SPT = "solo5_spt";
    public static final String QEMU = "qemu";
    public static final String BRIDGE = "bridge";
    public static final String SUBNET = "subnet";
    public static final String STATE_DIR = "state_dir";
    public static final String IMAGE_PATHS = "image_paths";
    public static final String LOG_LEVEL = "log_level";
    public static final String FINGERPRINT_PERIOD = "fingerprint_period";
    public static final String DEFAULT_USER = "default_user";
    public static final String QEMU_AUTO_KVM = "qemu_auto_kvm";
    public static final String QEMU_ALLOWED_ARGS = "qemu_allowed_args";
    public static final String MAC_OUI = "mac_oui";
    public static final String MTU = "mtu";
    public static final String ISOLATE_TASKS = "isolate_tasks";
    public static final String RECONCILE_DELAY = "reconcile_delay";
    public static final String RECONCILE_INTERVAL = "reconcile_interval";
    public static final String MAX_BLOCK_SIZE = "max_block_size";
    public static final String ALLOWED_USERS = "allowed_users";
    public static final String DYNAMIC_USER_MIN = "dynamic_user_min";
    public static final String DYNAMIC_USER_MAX = "dynamic_user_max";
    public static final String CGROUP_PARENT = "cgroup_parent";

    public static final List<String> ALL = List.of(
            SOLO5_HVT, SOLO5_SPT, QEMU, BRIDGE, SUBNET, STATE_DIR, IMAGE_PATHS, LOG_LEVEL, FINGERPRINT_PERIOD,
            DEFAULT_USER, QEMU_AUTO_KVM, QEMU_ALLOWED_ARGS, MAC_OUI, MTU, ISOLATE_TASKS, RECONCILE_DELAY,
            RECONCILE_INTERVAL, MAX_BLOCK_SIZE, ALLOWED_USERS, DYNAMIC_USER_MIN, DYNAMIC_USER_MAX, CGROUP_PARENT);

    private PluginConfigKeys() {
    }
}
