package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.Set;
import java.util.stream.Collectors;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.cgroup.CgroupVersion;
import nomadmirage.cgroup.Controller;
import nomadmirage.config.PluginConfig;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/**
 * Looks at the node and says whether unikernels can run here: which tenders are
 * installed (and their versions), whether /dev/kvm is usable, the bridge's
 * state and whether the state directory is writable.
 */
public final class Fingerprinter {
    static final String PREFIX = "driver.mirage.";
    private static final Duration VERSION_TIMEOUT = Duration.ofSeconds(5);
    private static final Pattern QEMU_VERSION = Pattern.compile("version\\s+(\\S+)");
    private static final Path KVM = Path.of("/dev/kvm");

    private final HostInspector host;
    private final CommandRunner commands;
    private final String pluginVersion;
    private static final Pattern VERSION = Pattern.compile("version\\s+(\\S+)");
    private static final Pattern ABI_VERSION = Pattern.compile("ABI version (\\d+)");
    private final Map<Path, TenderInfo> versionCache = new java.util.concurrent.ConcurrentHashMap<>();

    /** What a tender says about itself: its version and, for Solo5 tenders, the ABI version it runs. */
    record TenderInfo(String version, Optional<Long> abiVersion) {
    }

    private final TaskCgroups cgroups;

    public Fingerprinter(HostInspector host, CommandRunner commands, String pluginVersion) {
        this(host, commands, pluginVersion, TaskCgroups.NONE);
    }

    public Fingerprinter(HostInspector host, CommandRunner commands, String pluginVersion, TaskCgroups cgroups) {
        this.cgroups = cgroups;
        this.host = host;
        this.commands = commands;
        this.pluginVersion = pluginVersion;
    }

    public Fingerprint fingerprint(PluginConfig config) {
        Map<String, Object> attrs = new LinkedHashMap<>();
        attrs.put(PREFIX + "version", pluginVersion);
        boolean kvm = host.canOpenReadWrite(KVM);
        attrs.put(PREFIX + "kvm", kvm);

        List<String> targets = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        Optional<Path> hvt = tender(attrs, "solo5_hvt", config.solo5Hvt(), this::solo5Version);
        if (hvt.isPresent()) {
            if (kvm) {
                targets.add("hvt");
            } else {
                problems.add("solo5-hvt is installed but /dev/kvm is not usable (load kvm and give the plugin access)");
            }
        }
        tender(attrs, "solo5_spt", config.solo5Spt(), this::solo5Version).ifPresent(p -> targets.add("spt"));
        tender(attrs, "qemu", config.qemu(), this::qemuVersion).ifPresent(p -> targets.add("virtio"));
        attrs.put(PREFIX + "targets", String.join(",", targets));

        attrs.put(PREFIX + "bridge", config.bridge());
        attrs.put(PREFIX + "bridge.state", host.interfaceState(config.bridge()).orElse("absent"));
        attrs.put(PREFIX + "subnet", config.subnet().toString());
        // Networked tasks fail to start without it (the error names it); other tasks run, so the node stays healthy.
        Optional<Path> nft = host.findExecutable("nft");
        attrs.put(PREFIX + "nft.path", nft.map(Path::toString).orElse(""));
        if (nft.isEmpty()) {
            problems.add("networked tasks cannot start: nft, which pins guests to their addresses on the bridge, "
                    + "is not on PATH (install nftables)");
        }

        cgroupAttributes(config, attrs).ifPresent(problems::add);

        Optional<String> stateProblem = host.prepareWritableDirectory(config.stateDir());
        attrs.put(PREFIX + "state_dir", config.stateDir().toString());

        if (targets.isEmpty() && hvt.isEmpty()) {
            return new Fingerprint(Health.UNDETECTED, "no unikernel tender found: install solo5-hvt, solo5-spt or "
                    + "qemu-system-x86_64, or point solo5_hvt / solo5_spt / qemu in the plugin config at them "
                    + "(looked for \"" + config.solo5Hvt() + "\", \"" + config.solo5Spt() + "\", \"" + config.qemu() + "\")",
                    attrs);
        }
        if (stateProblem.isPresent()) {
            return new Fingerprint(Health.UNHEALTHY, "state_dir unusable: " + stateProblem.get(), attrs);
        }
        if (targets.isEmpty()) {
            return new Fingerprint(Health.UNHEALTHY, String.join("; ", problems), attrs);
        }
        String description = problems.isEmpty()
                ? "Healthy"
                : "Healthy (targets " + String.join(", ", targets) + "); " + String.join("; ", problems);
        return new Fingerprint(Health.HEALTHY, description, attrs);
    }

    /**
     * driver.mirage.cgroup (v1, v2 or none) and driver.mirage.cgroup.enforced (the limits tenders get:
     * cpu, memory, pids, cpuset); what is not enforced, as a problem for the health description.
     */
    private Optional<String> cgroupAttributes(PluginConfig config, Map<String, Object> attrs) {
        CgroupLayout layout = cgroups.layout();
        attrs.put(PREFIX + "cgroup", layout.version().attribute());
        if (layout.version() == CgroupVersion.NONE) {
            attrs.put(PREFIX + "cgroup.enforced", "");
            return Optional.of("no cgroup hierarchy is mounted: task cpu, memory and cores are not enforced");
        }
        try {
            cgroups.prepare(config);
        } catch (IOException | RuntimeException e) {
            attrs.put(PREFIX + "cgroup.enforced", "");
            return Optional.of("cannot create the cgroup parent \"" + config.cgroupParent() + "\" (" + e.getMessage()
                    + "): task cpu, memory and cores are not enforced");
        }
        List<String> enforced = new ArrayList<>();
        for (Controller c : List.of(Controller.CPU, Controller.MEMORY, Controller.PIDS, Controller.CPUSET)) {
            if (layout.has(c)) {
                enforced.add(c.kernelName());
            }
        }
        attrs.put(PREFIX + "cgroup.enforced", String.join(",", enforced));
        Set<Controller> missing = layout.missing();
        if (missing.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of("cgroup " + layout.version().attribute() + " has no " + missing.stream()
                .map(Controller::kernelName).collect(Collectors.joining(", ")) + " controller"
                + (missing.size() > 1 ? "s" : "") + " for tasks: " + missing.stream().map(Fingerprinter::consequence)
                .collect(Collectors.joining("; ")));
    }

    private static String consequence(Controller c) {
        return switch (c) {
            case CPU -> "cpu is not enforced";
            case CPUACCT -> "CPU usage is read from /proc";
            case CPUSET -> "reserved cores are not enforced";
            case MEMORY -> "memory is not limited and usage is read from /proc";
            case PIDS -> "the number of tender threads is not limited";
        };
    }

    private Optional<Path> tender(Map<String, Object> attrs, String key, String configured,
            java.util.function.Function<Path, TenderInfo> probe) {
        Optional<Path> path = host.findExecutable(configured);
        attrs.put(PREFIX + key + ".path", path.map(Path::toString).orElse(""));
        path.ifPresent(p -> {
            TenderInfo info = versionCache.computeIfAbsent(p, probe);
            attrs.put(PREFIX + key + ".version", info.version());
            info.abiVersion().ifPresent(abi -> attrs.put(PREFIX + key + ".abi_version", abi));
        });
        return path;
    }

    /** Solo5 tenders print "solo5-hvt tender, version vX.Y.Z" and "ABI version N". */
    private TenderInfo solo5Version(Path tender) {
        Optional<String> text = output(runVersion(tender));
        String version = text.flatMap(t -> t.lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst())
                .map(line -> {
                    Matcher m = VERSION.matcher(line);
                    return m.find() ? m.group(1) : line;
                }).orElse("unknown");
        Optional<Long> abi = text.map(ABI_VERSION::matcher).filter(Matcher::find).map(m -> Long.parseLong(m.group(1)));
        return new TenderInfo(version, abi);
    }

    private TenderInfo qemuVersion(Path qemu) {
        Optional<String> line = firstLine(runVersion(qemu));
        if (line.isEmpty()) {
            return new TenderInfo("unknown", Optional.empty());
        }
        Matcher m = QEMU_VERSION.matcher(line.get());
        return new TenderInfo(m.find() ? m.group(1) : line.get(), Optional.empty());
    }

    private Optional<CommandResult> runVersion(Path executable) {
        try {
            return Optional.of(commands.run(List.of(executable.toString(), "--version"), VERSION_TIMEOUT));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** What a successful --version printed, on stdout or (Solo5 tenders) stderr. */
    private static Optional<String> output(Optional<CommandResult> result) {
        return result.filter(CommandResult::succeeded).map(r -> r.stdout() + "\n" + r.stderr());
    }

    private static Optional<String> firstLine(Optional<CommandResult> result) {
        return output(result).flatMap(text -> text.lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst());
    }
}
