package nomadmirage.config;

import java.util.List;
import java.util.Optional;

/**
 * A job's {@code config {}} for {@code driver = "mirage"}, checked for shape
 * and ranges. Paths are still as written; they are resolved and confined when
 * the task starts, against the task directory and the unikernel's manifest.
 */
public record TaskConfig(
        String unikernel,
        List<String> args,
        Optional<String> tender,
        List<BlockDeviceConfig> blocks,
        QemuOptions qemu,
        List<NetDeviceConfig> networks,
        boolean autoAdvertise) {

    public TaskConfig {
        args = List.copyOf(args);
        blocks = List.copyOf(blocks);
        networks = List.copyOf(networks);
    }

    /** A config without network settings (tests and callers that do not need them). */
    public TaskConfig(String unikernel, List<String> args, Optional<String> tender, List<BlockDeviceConfig> blocks,
            QemuOptions qemu) {
        this(unikernel, args, tender, blocks, qemu, List.of(), false);
    }

    /**
     * One {@code network {}}: settings for a NET_BASIC device of the manifest.
     * Empty optionals mean "the default": a derived MAC, an address from the
     * pool, and for the default device the MirageOS argument names.
     */
    public record NetDeviceConfig(String device, Optional<List<String>> ports, Optional<String> mac,
            Optional<String> address, Optional<String> ipv4Arg, Optional<String> gatewayArg) {
    }

    /** One {@code block {}}: which manifest device, which file backs it. */
    public record BlockDeviceConfig(String name, String path, Optional<Long> sizeBytes, int sectorSize, boolean readOnly) {
    }

    /** The {@code qemu {}} options for virtio targets. */
    public record QemuOptions(Accelerator accelerator, Optional<String> machine, List<String> args) {
        public QemuOptions {
            args = List.copyOf(args);
        }

        public static QemuOptions defaults() {
            return new QemuOptions(Accelerator.AUTO, Optional.empty(), List.of());
        }
    }

    public enum Accelerator {
        AUTO, KVM, TCG
    }
}
