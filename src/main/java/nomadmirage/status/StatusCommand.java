package nomadmirage.status;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import nomadmirage.config.ConfigException;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.PluginConfigParser;
import nomadmirage.config.StateDirDefault;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.network.Lease;
import nomadmirage.network.NetworkManager;
import nomadmirage.network.NetworkSettings;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.NetworkStatus;
import nomadmirage.network.TaskNetwork;
import nomadmirage.proc.CommandRunner;
import nomadmirage.proc.NativeSupervisor;
import nomadmirage.proc.ProcessIdentity;
import nomadmirage.driver.DriverState;
import nomadmirage.driver.TaskRecord;
import nomadmirage.state.StateDirectory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code nomad-driver-mirage status}: what the plugin holds on this node, read
 * from the state directory and the host — each task's tender, taps, MACs,
 * addresses, port forwards and rules — and what belongs to no task (orphans).
 */
@Command(name = "status",
        description = {
            "List the plugin's tasks on this node and what belongs to no task.",
            "For each task: its tender (liveness and pid), taps, MACs, IP addresses, port forwards and "
                    + "firewall rules; then orphaned taps, rules and leases. Read from the state directory and "
                    + "the host network: run it as root in the network namespace the plugin runs in, with the "
                    + "options set as in the plugin's configuration (their defaults are the plugin's defaults)."},
        exitCodeList = {"0:reported", "1:the state directory does not exist", "2:usage error"})
public final class StatusCommand implements Callable<Integer> {
    @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = PluginConfig.DEFAULT_STATE_DIR,
            description = "The plugin's state_dir (default: ${DEFAULT-VALUE}).")
    Path stateDir;

    @Option(names = "--bridge", paramLabel = "NAME", defaultValue = PluginConfig.DEFAULT_BRIDGE,
            description = "The plugin's bridge (default: ${DEFAULT-VALUE}).")
    String bridge;

    @Option(names = "--subnet", paramLabel = "CIDR", defaultValue = PluginConfig.DEFAULT_SUBNET,
            description = "The plugin's subnet (default: ${DEFAULT-VALUE}).")
    String subnet;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;

    @Spec
    CommandSpec spec;

    private final CommandRunner hostCommands;

    /** {@code hostCommands} runs ip and iptables to read the host network. */
    public StatusCommand(CommandRunner hostCommands) {
        this.hostCommands = hostCommands;
    }

    @Override
    public Integer call() {
        stateDir = StateDirDefault.effective(stateDir);
        NetworkSettings settings;
        try {
            settings = NetworkSettings.withDefaults(PluginConfigParser.bridge("--bridge", bridge),
                    PluginConfigParser.subnet("--subnet", subnet), stateDir);
        } catch (ConfigException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (!Files.isDirectory(stateDir)) {
            err.println(Files.exists(stateDir)
                    ? "status: state directory " + stateDir + " is not a directory; --state-dir takes the plugin's state_dir"
                    : "status: state directory " + stateDir + " does not exist: the plugin has never run on this node "
                            + "with state_dir = \"" + stateDir + "\", or --state-dir is wrong");
            return 1;
        }
        out.println("state directory: " + stateDir);
        Map<String, Listed> records = taskRecords(stateDir, err);
        NetworkStatus network = null;
        if (Files.isDirectory(settings.networkDir())) {
            Logger quiet = Logger.root("mirage", new LogSink(java.io.OutputStream.nullOutputStream()), LogLevel.OFF);
            try {
                network = NetworkManager.overCommands(settings, hostCommands, quiet).status();
            } catch (NetworkSetupException e) {
                err.println("status: cannot read the host network: " + e.getMessage());
            }
        }
        if (network != null && !network.bridgePresent()) {
            out.println("bridge " + bridge + " does not exist in this network namespace, so taps are not checked; run "
                    + "status where the plugin runs (e.g. `ip netns exec NS nomad-driver-mirage status`)");
        }
        printTasks(out, records, network);
        if (network != null) {
            printOrphans(out, records, network);
        }
        return 0;
    }

    /** A task's record and the run directory it was read from. */
    private record Listed(DriverState state, Path runDir) {
    }

    private static Map<String, Listed> taskRecords(Path stateDir, PrintWriter err) {
        Map<String, Listed> records = new TreeMap<>();
        StateDirectory state = new StateDirectory(stateDir.toAbsolutePath());
        try {
            for (Path dir : state.runDirs()) {
                try {
                    Optional<TaskRecord> record = TaskRecord.read(dir);
                    if (record.isPresent()) {
                        records.put(record.get().state().taskId(), new Listed(record.get().state(), dir));
                    } else {
                        err.println("status: " + dir + ": no task record (a start in progress, or one cut short)");
                    }
                } catch (IOException | RuntimeException e) {
                    err.println("status: " + dir + ": unreadable task record (" + e.getMessage() + ")");
                }
            }
        } catch (IOException e) {
            err.println("status: cannot list " + state.tasksDir() + ": " + e.getMessage());
        }
        return records;
    }

    private static void printTasks(PrintWriter out, Map<String, Listed> records, NetworkStatus network) {
        out.println();
        out.println("tasks: " + records.size());
        for (Listed listed : records.values()) {
            DriverState task = listed.state();
            out.println("- " + task.taskId() + "  (" + task.tender().configName() + ", " + liveness(listed.runDir()) + ")");
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
                        if (network.bridgePresent()) {
                            tn.missingTaps().forEach(t -> out.println("    MISSING tap " + t));
                        }
                        tn.rules().forEach(r -> out.println("    rule " + r));
                    }
                }
            }
        }
    }

    private static void printOrphans(PrintWriter out, Map<String, Listed> records, NetworkStatus network) {
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
