package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import nomadmirage.config.ByteSize;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.PluginConfigKeys;
import nomadmirage.config.TaskConfig;
import nomadmirage.config.TaskConfig.BlockDeviceConfig;
import nomadmirage.solo5.Device;
import nomadmirage.solo5.DeviceType;
import nomadmirage.solo5.ManifestException;
import nomadmirage.solo5.Unikernel;
import nomadmirage.solo5.UnikernelReader;
import nomadmirage.tender.BlockAttachment;
import nomadmirage.tender.LaunchPlan;
import nomadmirage.tender.NetAttachment;
import nomadmirage.tender.QemuSettings;
import nomadmirage.tender.TenderKind;

/**
 * Turns a job's config into a {@link StartPlan}: finds and reads the unikernel,
 * picks the tender its ABI needs, and binds every manifest device to what the
 * job configured. Pure with respect to the host: it only reads, and everything
 * a job can get wrong is reported here, before anything is created.
 */
public final class LaunchPlanner {
    static final long DEFAULT_MEMORY_MB = 64;
    private static final Path KVM = Path.of("/dev/kvm");

    private final HostInspector host;
    private final ConfinedFiles files;

    public LaunchPlanner(HostInspector host) {
        this(host, new ConfinedFiles());
    }

    LaunchPlanner(HostInspector host, ConfinedFiles files) {
        this.host = host;
        this.files = files;
    }

    /**
     * Plans a start without touching the host: every error a job can make is reported here, before
     * anything is created. (Reading the unikernel and checking paths only reads.)
     */
    public StartPlan plan(TaskRequest request, TaskConfig config, PluginConfig plugin) throws InvalidTaskException {
        Path taskDir = request.taskDir();
        List<Path> taskRoots = PathConfinement.realRoots(List.of(taskDir, request.allocDir().resolve("alloc")));
        ConfinedPath image = resolveUnikernel(config.unikernel(), taskDir, taskRoots, plugin);
        Path kernel = image.path();
        Unikernel unikernel = readUnikernel(image);
        TenderKind kind = chooseTender(unikernel, config);
        Path tender = tenderPath(kind, plugin);

        List<StartPlan.NewBlockFile> toCreate = new ArrayList<>();
        List<StartPlan.ExistingBlockFile> toCheck = new ArrayList<>();
        List<BlockAttachment> blocks = bindBlocks(unikernel, config, kind, taskDir, taskRoots, toCreate, toCheck,
                plugin.limits().maxBlockBytes());

        long memory = request.memoryMb() > 0 ? request.memoryMb() : DEFAULT_MEMORY_MB;
        Optional<QemuSettings> qemu = Optional.empty();
        if (kind == TenderKind.QEMU) {
            qemu = Optional.of(qemuSettings(config, plugin));
        } else if (kind == TenderKind.SOLO5_HVT && !host.canOpenReadWrite(KVM)) {
            throw new InvalidTaskException("unikernel: " + config.unikernel() + " is built for hvt, which needs a usable "
                    + "/dev/kvm on this node; none is available (constrain the job on attr.driver.mirage.kvm = true)");
        }
        List<String> netDevices = unikernel.manifest().devices().stream()
                .filter(d -> d.type() == DeviceType.NET_BASIC).map(Device::name).toList();
        NetworkBinding binding = NetworkBinding.of(netDevices, config);
        if (binding.isEmpty()) {
            if (!config.networks().isEmpty()) {
                throw new InvalidTaskException("network: the unikernel's manifest declares no network devices, "
                        + "so it cannot have network blocks");
            }
            return new StartPlan(unikernel, kind, tender, kernel, memory, blocks, toCreate, toCheck, qemu, Optional.empty(),
                    List.of(), config.args());
        }
        return new StartPlan(unikernel, kind, tender, kernel, memory, blocks, toCreate, toCheck, qemu, Optional.of(binding),
                binding.requests(request.ports()), config.args());
    }

    /**
     * Reads the unikernel's notes as root, through {@link ConfinedFiles}: never through a link or a swapped
     * directory, and a FIFO swapped in after the plan's check is refused instead of blocking the start.
     */
    private Unikernel readUnikernel(ConfinedPath image) throws InvalidTaskException {
        try {
            return files.read(image, channel -> {
                try {
                    return UnikernelReader.read(channel, image.toString());
                } catch (ManifestException e) {
                    throw new NotAUnikernel(e);
                }
            });
        } catch (NotAUnikernel e) {
            throw new InvalidTaskException("unikernel: " + image + " is not a Solo5 unikernel: "
                    + e.manifest.getMessage(), e.manifest);
        } catch (IOException e) {
            throw new InvalidTaskException("unikernel: " + e.getMessage(), e);
        }
    }

    /** Carries a {@link ManifestException} out of the confined read. */
    private static final class NotAUnikernel extends IOException {
        private static final long serialVersionUID = 1L;
        private final transient ManifestException manifest;

        NotAUnikernel(ManifestException manifest) {
            super(manifest.getMessage(), manifest);
            this.manifest = manifest;
        }
    }

    private ConfinedPath resolveUnikernel(String written, Path taskDir, List<Path> taskRoots, PluginConfig plugin)
            throws InvalidTaskException {
        if (Path.of(written).isAbsolute()) {
            if (plugin.imagePaths().isEmpty()) {
                throw new InvalidTaskException("unikernel: \"" + written + "\" is an absolute path, but the agent allows "
                        + "none (image_paths is empty); use a path relative to the task directory, e.g. local/app.hvt");
            }
            return PathConfinement.existing("unikernel", written, taskDir,
                    PathConfinement.realRoots(plugin.imagePaths()), "the agent's image_paths " + plugin.imagePaths());
        }
        return PathConfinement.existing("unikernel", written, taskDir, taskRoots,
                "the task directory " + taskDir + " and the shared alloc directory");
    }

    private static TenderKind chooseTender(Unikernel unikernel, TaskConfig config) throws InvalidTaskException {
        String target = unikernel.abi().target().elftoolName();
        TenderKind kind = TenderKind.forTarget(unikernel.abi().target()).orElseThrow(() -> new InvalidTaskException(
                "unikernel: built for the Solo5 target \"" + target + "\", which this driver cannot run; "
                        + "build it for hvt, spt or virtio"));
        if (config.tender().isPresent() && !config.tender().get().equals(kind.configName())) {
            throw new InvalidTaskException("tender: \"" + config.tender().get() + "\" cannot run a unikernel built for "
                    + target + "; allowed: " + kind.configName() + " (or leave tender out)");
        }
        return kind;
    }

    private Path tenderPath(TenderKind kind, PluginConfig plugin) throws InvalidTaskException {
        String configured = switch (kind) {
            case SOLO5_HVT -> plugin.solo5Hvt();
            case SOLO5_SPT -> plugin.solo5Spt();
            case QEMU -> plugin.qemu();
        };
        return host.findExecutable(configured).orElseThrow(() -> new InvalidTaskException(
                "this node has no " + kind.configName() + " (looked for \"" + configured + "\"); install it or set "
                        + "the plugin's " + pluginKey(kind) + " path, and constrain jobs on attr.driver.mirage.targets"));
    }

    private static String pluginKey(TenderKind kind) {
        return switch (kind) {
            case SOLO5_HVT -> nomadmirage.config.PluginConfigKeys.SOLO5_HVT;
            case SOLO5_SPT -> nomadmirage.config.PluginConfigKeys.SOLO5_SPT;
            case QEMU -> nomadmirage.config.PluginConfigKeys.QEMU;
        };
    }

    private static List<BlockAttachment> bindBlocks(Unikernel unikernel, TaskConfig config, TenderKind kind,
            Path taskDir, List<Path> taskRoots, List<StartPlan.NewBlockFile> toCreate,
            List<StartPlan.ExistingBlockFile> toCheck, long maxBlockBytes) throws InvalidTaskException {
        Map<String, Device> manifest = new HashMap<>();
        unikernel.manifest().devices().forEach(d -> manifest.put(d.name(), d));
        String blockNames = names(unikernel, DeviceType.BLOCK_BASIC);
        List<BlockAttachment> out = new ArrayList<>();
        for (int i = 0; i < config.blocks().size(); i++) {
            BlockDeviceConfig block = config.blocks().get(i);
            String at = "block[" + i + "]";
            Device device = manifest.get(block.name());
            if (device == null || device.type() != DeviceType.BLOCK_BASIC) {
                throw new InvalidTaskException(at + ".name: \"" + block.name() + "\" is not a block device of this "
                        + "unikernel; its manifest declares " + (blockNames.isEmpty() ? "no block devices" : blockNames));
            }
            if (block.readOnly() && kind != TenderKind.QEMU) {
                throw new InvalidTaskException(at + ".read_only: " + kind.configName() + " always attaches block "
                        + "devices read-write; read_only is only available for virtio (qemu) unikernels");
            }
            ConfinedPath confined = PathConfinement.creatable(at + ".path", block.path(), taskDir, taskRoots,
                    "the task directory " + taskDir + " and the shared alloc directory");
            Path file = confined.path();
            if (Files.exists(file)) {
                long size = sizeOf(file, at);
                checkBlockSize(at + ".path", file, size, block.sectorSize());
                toCheck.add(new StartPlan.ExistingBlockFile(at + ".path", confined, block.sectorSize()));
            } else if (block.sizeBytes().isEmpty()) {
                throw new InvalidTaskException(at + ".path: " + file + " does not exist; set " + at
                        + ".size to have it created");
            } else if (block.sizeBytes().get() > maxBlockBytes) {
                throw new InvalidTaskException(at + ".size: " + block.sizeBytes().get() + " bytes ("
                        + ByteSize.format(block.sizeBytes().get()) + ") is more than this node creates for a job: "
                        + "the agent's " + PluginConfigKeys.MAX_BLOCK_SIZE + " is " + ByteSize.format(maxBlockBytes)
                        + "; use a smaller size");
            } else {
                checkSameFilesystem(at + ".path", confined);
                toCreate.add(new StartPlan.NewBlockFile(at + ".path", confined, block.sizeBytes().get()));
            }
            out.add(new BlockAttachment(block.name(), file, block.sectorSize(), block.readOnly()));
        }
        List<String> missing = unikernel.manifest().devices().stream()
                .filter(d -> d.type() == DeviceType.BLOCK_BASIC)
                .map(Device::name)
                .filter(name -> config.blocks().stream().noneMatch(b -> b.name().equals(name)))
                .toList();
        if (!missing.isEmpty()) {
            throw new InvalidTaskException("block: the unikernel's manifest declares block device(s) " + missing
                    + " that the job does not configure; add a block { name = \"" + missing.getFirst()
                    + "\" path = \"...\" } for each");
        }
        return out;
    }

    private QemuSettings qemuSettings(TaskConfig config, PluginConfig plugin) throws InvalidTaskException {
        boolean kvmUsable = host.canOpenReadWrite(KVM);
        boolean kvm = switch (config.qemu().accelerator()) {
            case KVM -> {
                if (!kvmUsable) {
                    throw new InvalidTaskException("qemu.accelerator: \"kvm\" needs a usable /dev/kvm on this node; "
                            + "use \"tcg\" or \"auto\"");
                }
                yield true;
            }
            case TCG -> false;
            case AUTO -> kvmUsable && plugin.qemuAutoKvm();
        };
        List<String> extra = config.qemu().args();
        checkQemuArgs(extra, plugin.limits().qemuAllowedArgs());
        return new QemuSettings(kvm, config.qemu().machine(), extra);
    }

    /**
     * A job's extra qemu arguments: options of the agent's qemu_allowed_args only, each followed by
     * one value matching the option's expression, or by none when the expression is empty. qemu opens
     * any bare word as a disk image, so a word that is neither is refused.
     */
    static void checkQemuArgs(List<String> args, Map<String, String> allowed) throws InvalidTaskException {
        String permitted = allowed.isEmpty() ? "no options (qemu_allowed_args is empty)"
                : "only " + allowed.entrySet().stream()
                        .map(e -> e.getValue().isEmpty() ? e.getKey() : e.getKey() + " /" + e.getValue() + "/")
                        .collect(Collectors.joining(", "));
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            String at = "qemu.args[" + i + "]";
            if (arg.contains("\0")) {
                throw new InvalidTaskException(at + ": arguments may not contain NUL bytes");
            }
            if (!arg.startsWith("-")) {
                throw new InvalidTaskException(at + ": \"" + arg + "\" is not an option (qemu would open a bare word as "
                        + "a disk image); the agent's qemu_allowed_args permits " + permitted);
            }
            String pattern = allowed.get(arg);
            if (pattern == null) {
                throw new InvalidTaskException(at + ": \"" + arg + "\" is not allowed on this node; the agent's "
                        + "qemu_allowed_args permits " + permitted);
            }
            if (pattern.isEmpty()) {
                continue;
            }
            if (i + 1 == args.size()) {
                throw new InvalidTaskException(at + ": \"" + arg + "\" needs a value matching /" + pattern
                        + "/ (the agent's qemu_allowed_args) after it");
            }
            String value = args.get(++i);
            if (value.contains("\0") || !java.util.regex.Pattern.compile(pattern).matcher(value).matches()) {
                throw new InvalidTaskException("qemu.args[" + i + "]: \"" + value + "\" is not an allowed value for "
                        + arg + "; the agent's qemu_allowed_args requires it to match /" + pattern + "/ as a whole");
            }
        }
    }

    /** A new block file is prepared in its confinement root and renamed into place: both on one filesystem. */
    private static void checkSameFilesystem(String field, ConfinedPath file) throws InvalidTaskException {
        try {
            if (!Files.getFileStore(file.path().getParent()).equals(Files.getFileStore(file.root()))) {
                throw new InvalidTaskException(field + ": " + file + " would be created on another filesystem than "
                        + file.root() + " (a mount inside it); the driver creates block files only on that one, so "
                        + "create it there yourself or choose a path outside the mount");
            }
        } catch (IOException e) {
            throw new InvalidTaskException(field + ": cannot tell the filesystem of " + file + ": " + e.getMessage(), e);
        }
    }

    static void checkBlockSize(String field, Path file, long size, long sectorSize) throws InvalidTaskException {
        if (size == 0 || size % sectorSize != 0) {
            throw new InvalidTaskException(field + ": " + file + " is " + size + " bytes, not a non-zero "
                    + "multiple of the sector size " + sectorSize);
        }
    }

    private static long sizeOf(Path file, String at) throws InvalidTaskException {
        try {
            return Files.size(file);
        } catch (java.io.IOException e) {
            throw new InvalidTaskException(at + ".path: cannot read the size of " + file + ": " + e.getMessage());
        }
    }

    private static String names(Unikernel unikernel, DeviceType type) {
        return unikernel.manifest().devices().stream().filter(d -> d.type() == type)
                .map(d -> "\"" + d.name() + "\"").collect(Collectors.joining(", "));
    }
}
