package nomadmirage.config;

/** The keys of a job's {@code config {}} block, shared by the schema and the parser. */
public final class TaskConfigKeys {
    public static final String UNIKERNEL = "unikernel";
    public static final String ARGS = "args";
    public static final String TENDER = "tender";
    public static final String BLOCK = "block";
    public static final String BLOCK_NAME = "name";
    public static final String BLOCK_PATH = "path";
    public static final String BLOCK_SIZE = "size";
    public static final String BLOCK_SECTOR_SIZE = "sector_size";
    public static final String BLOCK_READ_ONLY = "read_only";
    public static final String QEMU = "qemu";
    public static final String QEMU_ACCELERATOR = "accelerator";
    public static final String QEMU_MACHINE = "machine";
    public static final String QEMU_ARGS = "args";
    public static final String NETWORK = "network";
    public static final String NETWORK_DEVICE = "device";
    public static final String NETWORK_PORTS = "ports";
    public static final String NETWORK_MAC = "mac";
    public static final String NETWORK_ADDRESS = "address";
    public static final String NETWORK_IPV4_ARG = "ipv4_arg";
    public static final String NETWORK_GATEWAY_ARG = "gateway_arg";
    public static final String AUTO_ADVERTISE = "auto_advertise";

    private TaskConfigKeys() {
    }
}
