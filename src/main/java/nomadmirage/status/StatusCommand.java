package nomadmirage.status;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.config.PluginConfig;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.network.Lease;
import nomadmirage.network.NetworkManager;
import nomadmirage.network.NetworkSettings;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.NetworkStatus;
import nomadmirage.network.TaskNetwork;
import nomadmirage.proc.ProcessCommandRunner;
import nomadmirage.proc.NativeSupervisor;
import nomadmirage.proc.ProcessIdentity;
import nomadmirage.task.DriverState;
import nomadmirage.task.InvalidTaskException;

/**
 * {@code nomad-driver-mirage status}: what the plugin holds on this node, read
 * from the state directory and the host — each task's tender, taps, MACs,
 * addresses, port forwards and rules — and what belongs to no task (orphans).
 */
public final class StatusCommand {
    public static final String USAGE = """
            status [--state-dir DIR] [--bridge NAME] [--subnet CIDR]
                          list live tasks (tender pid, taps, MACs, IPs, ports, rules) and orphaned
                          taps, rules and leases; defaults are the plugin's defaults""";

    private StatusCommand() {
    }

    public static int run(List<String> args, PrintStream out, PrintStream err) {
        PluginConfig defaults = PluginConfig.defaults();
        Path stateDir = defaults.stateDir();
        String bridge = defaults.bridge();
        Ipv4Cidr subnet = defaults.subnet();
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            if (i + 1 >= args.size()) {
                err.println("status: " + arg + " needs a value\nusage: nomad-driver-mirage " + USAGE);
                return 2;
            }
            String value = args.get(++i);
            switch (arg) {
                case "--state-dir" -> stateDir = Path.of(value);
                case "--bridge" -> bridge = value;
                case "--subnet" -> {
                    subnet = Ipv4Cidr.parse(value);
                    if (subnet == null) {
                        err.println("status: --subnet: \"" + value + "\" is not an IPv4 network such as 10.99.0.0/16");
                        return 2;
                    }
                }
                default -> {
                    err.println("status: unknown option " + arg + "\nusage: nomad-driver-mirage " + USAGE);
                    return 2;
                }
            }
        }
        out.println("state directory: " + stateDir);
        Map<String, DriverState> records = taskRecords(stateDir, err);
        NetworkStatus network = null;
        if (Files.isDirectory(stateDir.resolve("network"))) {
            Logger quiet = Logger.root("mirage", new LogSink(java.io.OutputStream.nullOutputStream()), LogLevel.OFF);
            NetworkManager manager = NetworkManager.overCommands(
                    NetworkSettings.withDefaults(bridge, subnet, stateDir), new ProcessCommandRunner(), quiet);
            try {
                network = manager.status();
            } catch (NetworkSetupException e) {
                err.println("status: cannot read the host network: " + e.getMessage());
            }
        }
        printTasks(out, stateDir, records, network);
        if (network != null) {
            printOrphans(out, records, network);
        }
        return 0;
    }

    private static Map<String, DriverState> taskRecords(Path stateDir, PrintStream err) {
        Map<String, DriverState> records = new TreeMap<>();
        Path tasks = stateDir.resolve("tasks");
        if (!Files.isDirectory(tasks)) {
            return records;
        }
        try (var dirs = Files.list(tasks)) {
            for (Path dir : dirs.toList()) {
                try {
                    DriverState state = DriverState.decode(Files.readAllBytes(dir.resolve("task.json")));
                    records.put(state.taskId(), state);
                } catch (IOException | InvalidTaskException e) {
                    err.println("status: " + dir + ": no readable task record (" + e.getMessage() + ")");
                }
            }
        } catch (IOException e) {
            err.println("status: cannot list " + tasks + ": " + e.getMessage());
        }
        return records;
    }

    private static void printTasks(PrintStream out, Path stateDir, Map<String, DriverState> records, NetworkStatus network) {
        out.println();
        out.println("tasks: " + records.size());
        for (DriverState task : records.values()) {
            out.println("- " + task.taskId() + "  (" + task.tender().toLowerCase(java.util.Locale.ROOT).replace('_', '-')
                    + ", " + liveness(Path.of(task.runDir())) + ")");
            for (var device : task.networks()) {
                out.println("    " + device.device() + ": tap " + device.tap() + "  mac " + device.mac() + "  ip "
                        + device.cidr() + "  gateway " + device.gateway());
                for (var forward : device.forwards()) {
                    out.println("      port " + forward.label() + ": " + (forward.hostIp().isEmpty() ? "*" : forward.hostIp())
                            + ":" + forward.hostPort() + " -> " + device.ip() + ":" + forward.guestPort() + " (tcp, udp)");
                }
            }
            if (network != null) {
                for (TaskNetwork tn : network.tasks()) {
                    if (tn.taskId().equals(task.taskId())) {
                        tn.missingTaps().forEach(t -> out.println("    MISSING tap " + t));
                        tn.rules().forEach(r -> out.println("    rule " + r));
                    }
                }
            }
        }
    }

    private static void printOrphans(PrintStream out, Map<String, DriverState> records, NetworkStatus network) {
        List<String> lines = new ArrayList<>();
        for (TaskNetwork tn : network.tasks()) {
            if (!records.containsKey(tn.taskId())) {
                for (Lease lease : tn.leases()) {
                    lines.add("lease " + lease + " (task " + tn.taskId() + " has no run directory)");
                }
                tn.rules().forEach(r -> lines.add("rule " + r + " (task " + tn.taskId() + " has no run directory)"));
            }
        }
        network.orphanTaps().forEach(t -> lines.add("tap " + t));
        network.orphanRules().forEach(r -> lines.add("rule " + r));
        network.staleLeases().forEach(l -> lines.add("lease outside the subnet " + l));
        out.println();
        out.println("orphans: " + (lines.isEmpty() ? "none" : lines.size()));
        lines.forEach(l -> out.println("- " + l));
    }

    private static String liveness(Path runDir) {
        Optional<ProcessIdentity> tender = NativeSupervisor.recordedTender(runDir);
        if (tender.isEmpty()) {
            return "not started";
        }
        if (tender.get().isAlive()) {
            return "running, pid " + tender.get().pid();
        }
        return Files.exists(runDir.resolve("status")) ? "exited" : "gone";
    }
}
