package nomadmirage.config;

import static nomadmirage.config.ConfigValues.objectList;
import static nomadmirage.config.ConfigValues.optionalBool;
import static nomadmirage.config.ConfigValues.optionalLong;
import static nomadmirage.config.ConfigValues.optionalString;
import static nomadmirage.config.ConfigValues.requiredString;
import static nomadmirage.config.ConfigValues.stringList;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import nomadmirage.config.TaskConfig.Accelerator;
import nomadmirage.config.TaskConfig.BlockDeviceConfig;
import nomadmirage.config.TaskConfig.NetDeviceConfig;
import nomadmirage.config.TaskConfig.QemuOptions;

/** Builds a {@link TaskConfig} from a decoded job {@code config {}}; every error names its field. */
public final class TaskConfigParser {
    public static final List<String> TENDERS = List.of("solo5-hvt", "solo5-spt", "qemu");
    static final int DEFAULT_SECTOR_SIZE = 512;

    private TaskConfigParser() {
    }

    public static TaskConfig parse(Map<String, Object> raw) throws ConfigException {
        String unikernel = requiredString(raw, TaskConfigKeys.UNIKERNEL, TaskConfigKeys.UNIKERNEL);
        if (unikernel.contains("\0")) {
            throw new ConfigException(TaskConfigKeys.UNIKERNEL, unikernel, "a path may not contain NUL bytes");
        }
        List<String> args = stringList(raw, TaskConfigKeys.ARGS, TaskConfigKeys.ARGS);
        for (int i = 0; i < args.size(); i++) {
            if (args.get(i).contains("\0")) {
                throw new ConfigException("args[" + i + "]", args.get(i), "arguments may not contain NUL bytes");
            }
        }
        Optional<String> tender = optionalString(raw, TaskConfigKeys.TENDER, TaskConfigKeys.TENDER);
        if (tender.isPresent() && !TENDERS.contains(tender.get())) {
            throw new ConfigException(TaskConfigKeys.TENDER, tender.get(), "allowed: " + String.join(", ", TENDERS)
                    + " (or leave it out to choose from the unikernel's ABI target)");
        }
        boolean advertise = optionalBool(raw, TaskConfigKeys.AUTO_ADVERTISE, TaskConfigKeys.AUTO_ADVERTISE).orElse(false);
        return new TaskConfig(unikernel, args, tender, blocks(raw), qemu(raw), networks(raw), advertise);
    }

    private static List<NetDeviceConfig> networks(Map<String, Object> raw) throws ConfigException {
        List<NetDeviceConfig> out = new ArrayList<>();
        Set<String> devices = new HashSet<>();
        List<Map<String, Object>> blocks = objectList(raw, TaskConfigKeys.NETWORK, TaskConfigKeys.NETWORK);
        for (int i = 0; i < blocks.size(); i++) {
            Map<String, Object> net = blocks.get(i);
            String at = TaskConfigKeys.NETWORK + "[" + i + "].";
            String device = requiredString(net, TaskConfigKeys.NETWORK_DEVICE, at + TaskConfigKeys.NETWORK_DEVICE);
            if (!devices.add(device)) {
                throw new ConfigException(at + TaskConfigKeys.NETWORK_DEVICE, device,
                        "each network device may be configured only once");
            }
            Optional<List<String>> ports = net.get(TaskConfigKeys.NETWORK_PORTS) == null ? Optional.empty()
                    : Optional.of(stringList(net, TaskConfigKeys.NETWORK_PORTS, at + TaskConfigKeys.NETWORK_PORTS));
            Optional<String> mac = optionalString(net, TaskConfigKeys.NETWORK_MAC, at + TaskConfigKeys.NETWORK_MAC);
            Optional<String> address = optionalString(net, TaskConfigKeys.NETWORK_ADDRESS, at + TaskConfigKeys.NETWORK_ADDRESS);
            if (address.isPresent() && Ipv4Cidr.parseAddress(address.get()) == null) {
                throw new ConfigException(at + TaskConfigKeys.NETWORK_ADDRESS, address.get(),
                        "expected an IPv4 address inside the agent's subnet, e.g. 10.99.0.50");
            }
            Optional<String> ipv4Arg = argName(net, TaskConfigKeys.NETWORK_IPV4_ARG, at);
            Optional<String> gatewayArg = argName(net, TaskConfigKeys.NETWORK_GATEWAY_ARG, at);
            out.add(new NetDeviceConfig(device, ports, mac, address, ipv4Arg, gatewayArg));
        }
        return out;
    }

    private static Optional<String> argName(Map<String, Object> net, String key, String at) throws ConfigException {
        Optional<String> value = optionalString(net, key, at + key);
        if (value.isPresent() && !value.get().isEmpty() && !value.get().matches("-{1,2}[A-Za-z0-9][A-Za-z0-9_:.-]*")) {
            throw new ConfigException(at + key, value.get(),
                    "expected an option name such as \"--ipv4\" (the value is appended after '='), or \"\" to pass nothing");
        }
        return value;
    }

    private static List<BlockDeviceConfig> blocks(Map<String, Object> raw) throws ConfigException {
        List<BlockDeviceConfig> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        List<Map<String, Object>> blocks = objectList(raw, TaskConfigKeys.BLOCK, TaskConfigKeys.BLOCK);
        for (int i = 0; i < blocks.size(); i++) {
            Map<String, Object> block = blocks.get(i);
            String at = TaskConfigKeys.BLOCK + "[" + i + "].";
            String name = requiredString(block, TaskConfigKeys.BLOCK_NAME, at + TaskConfigKeys.BLOCK_NAME);
            if (!names.add(name)) {
                throw new ConfigException(at + TaskConfigKeys.BLOCK_NAME, name, "each block device may be configured only once");
            }
            String path = requiredString(block, TaskConfigKeys.BLOCK_PATH, at + TaskConfigKeys.BLOCK_PATH);
            int sector = Math.toIntExact(optionalLong(block, TaskConfigKeys.BLOCK_SECTOR_SIZE,
                    at + TaskConfigKeys.BLOCK_SECTOR_SIZE).map(s -> Math.min(s, 1L << 20)).orElse((long) DEFAULT_SECTOR_SIZE));
            if (sector < 512 || Integer.bitCount(sector) != 1 || sector > 65536) {
                throw new ConfigException(at + TaskConfigKeys.BLOCK_SECTOR_SIZE, sector,
                        "expected a power of two from 512 to 65536");
            }
            Optional<Long> size = size(block, at + TaskConfigKeys.BLOCK_SIZE, sector);
            boolean readOnly = optionalBool(block, TaskConfigKeys.BLOCK_READ_ONLY, at + TaskConfigKeys.BLOCK_READ_ONLY)
                    .orElse(false);
            out.add(new BlockDeviceConfig(name, path, size, sector, readOnly));
        }
        return out;
    }

    private static Optional<Long> size(Map<String, Object> block, String field, int sector) throws ConfigException {
        Object value = block.get(TaskConfigKeys.BLOCK_SIZE);
        if (value == null) {
            return Optional.empty();
        }
        long bytes = value instanceof String s ? ByteSize.parse(s) : optionalLong(block, TaskConfigKeys.BLOCK_SIZE, field).get();
        if (bytes <= 0 || bytes > ByteSize.MAX_BLOCK_BYTES) {
            throw new ConfigException(field, value, "expected a size from 1 sector to 1TiB such as \"64MiB\", \"1GiB\" or a number of bytes");
        }
        if (bytes % sector != 0) {
            throw new ConfigException(field, value, "must be a multiple of the sector size (" + sector + " bytes)");
        }
        return Optional.of(bytes);
    }

    private static QemuOptions qemu(Map<String, Object> raw) throws ConfigException {
        List<Map<String, Object>> blocks = objectList(raw, TaskConfigKeys.QEMU, TaskConfigKeys.QEMU);
        if (blocks.isEmpty()) {
            return QemuOptions.defaults();
        }
        if (blocks.size() > 1) {
            throw new ConfigException(TaskConfigKeys.QEMU, blocks.size() + " blocks", "at most one qemu { ... } block");
        }
        Map<String, Object> qemu = blocks.getFirst();
        String at = TaskConfigKeys.QEMU + ".";
        String accelText = optionalString(qemu, TaskConfigKeys.QEMU_ACCELERATOR, at + TaskConfigKeys.QEMU_ACCELERATOR)
                .orElse("auto");
        Accelerator accelerator;
        try {
            accelerator = Accelerator.valueOf(accelText.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(at + TaskConfigKeys.QEMU_ACCELERATOR, accelText, "allowed: auto, kvm, tcg");
        }
        Optional<String> machine = optionalString(qemu, TaskConfigKeys.QEMU_MACHINE, at + TaskConfigKeys.QEMU_MACHINE);
        if (machine.isPresent() && !machine.get().matches("[A-Za-z0-9._-]+")) {
            throw new ConfigException(at + TaskConfigKeys.QEMU_MACHINE, machine.get(),
                    "expected a qemu machine type name such as \"pc\" or \"q35\" (letters, digits, '.', '_', '-')");
        }
        List<String> args = stringList(qemu, TaskConfigKeys.QEMU_ARGS, at + TaskConfigKeys.QEMU_ARGS);
        return new QemuOptions(accelerator, machine, args);
    }
}
