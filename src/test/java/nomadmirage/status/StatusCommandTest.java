package nomadmirage.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.Ipam;
import nomadmirage.network.Lease;
import nomadmirage.network.NetworkSettings;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;
import com.fasterxml.jackson.databind.ObjectMapper;
import nomadmirage.driver.DriverState;
import nomadmirage.driver.TaskRecord;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The status command end to end over a state directory in a temporary folder and canned host commands. */
class StatusCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private final List<String> commands = new ArrayList<>();
    private boolean bridgeExists = true;

    /** ip and iptables-save as on a node with the bridge (or without it) and none of our taps or rules. */
    private final CommandRunner host = (argv, timeout) -> {
        String joined = String.join(" ", argv);
        commands.add(joined);
        if (joined.equals("ip link show dev mirage0") && !bridgeExists) {
            return new CommandResult(argv, 1, "", "Device \"mirage0\" does not exist.\n", false);
        }
        return new CommandResult(argv, 0, "", "", false);
    };

    @Test
    void aMissingStateDirectoryIsAnErrorThatCreatesNothing() throws Exception {
        Path missing = dir.resolve("nowhere");

        assertEquals(1, status("--state-dir", missing.toString()));

        assertEquals("", text(out));
        assertEquals("status: state directory " + missing + " does not exist: the plugin has never run on this node"
                + " with state_dir = \"" + missing + "\", or --state-dir is wrong\n", text(err));
        assertFalse(Files.exists(missing));
        assertEquals(List.of(), commands, "the host was not touched");
    }

    @Test
    void aStateDirectoryThatIsAFileIsAnError() throws Exception {
        Path file = Files.writeString(dir.resolve("file"), "");
        assertEquals(1, status("--state-dir", file.toString()));
        assertTrue(text(err).contains(file + " is not a directory"), text(err));
    }

    @Test
    void anEmptyStateDirectoryHasNoTasks() throws Exception {
        assertEquals(0, status("--state-dir", dir.toString()));
        assertEquals("state directory: " + dir + "\n\ntasks: 0\n", text(out));
        assertEquals("", text(err));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "this-name-is-too-long", "bad/name", "br 0"})
    void refusesTheBridgeNamesThePluginRefuses(String bridge) throws Exception {
        assertEquals(2, status("--state-dir", dir.toString(), "--bridge", bridge));
        assertEquals("", text(out));
        assertTrue(text(err).startsWith("nomad-driver-mirage status: --bridge: \"" + bridge + "\" is not valid; "
                + "a Linux interface name is 1 to 15 characters of letters, digits, '_', '.' and '-'\n"), text(err));
        assertTrue(text(err).contains("Usage: nomad-driver-mirage status"), text(err));
        assertEquals(List.of(), commands);
    }

    @ParameterizedTest
    @ValueSource(strings = {"10.99.0.1/16", "10.99.0.0/31", "10.0.0.0/7", "banana"})
    void refusesTheSubnetsThePluginRefuses(String subnet) throws Exception {
        assertEquals(2, status("--state-dir", dir.toString(), "--subnet", subnet));
        assertTrue(text(err).startsWith("nomad-driver-mirage status: --subnet: \"" + subnet + "\" is not valid; "
                + "expected an IPv4 network in CIDR form"), text(err));
    }

    @Test
    void acceptsWhatThePluginAccepts() throws Exception {
        assertEquals(0, status("--state-dir", dir.toString(), "--bridge", "br-uk.0_x", "--subnet", "172.30.0.0/24"));
        assertEquals("", text(err));
    }

    @Test
    void listsAMissingTapWhenTheBridgeIsThere() throws Exception {
        String tap = networkedTask();

        assertEquals(0, status("--state-dir", dir.toString()));

        assertTrue(text(out).contains("    MISSING tap " + tap + "\n"), text(out));
        assertFalse(text(out).contains("does not exist in this network namespace"), text(out));
    }

    @Test
    void withoutTheBridgeSaysOnceThatItRunsInTheWrongNamespaceInsteadOfListingEveryTapMissing() throws Exception {
        networkedTask();
        bridgeExists = false;

        assertEquals(0, status("--state-dir", dir.toString()));

        String report = text(out);
        assertTrue(report.startsWith("state directory: " + dir + "\n"
                + "bridge mirage0 does not exist in this network namespace, so taps are not checked; run status where"
                + " the plugin runs (e.g. `ip netns exec NS nomad-driver-mirage status`)\n"), report);
        assertFalse(report.contains("MISSING"), report);
        assertTrue(report.contains("tasks: 1\n- t1  (solo5-hvt, not started)\n    service: tap "), report);
        assertEquals("", text(err));
    }

    /** A task record with one networked device and its lease, as the plugin leaves them; returns the tap name. */
    private String networkedTask() throws Exception {
        Ipam ipam = new Ipam(NetworkSettings.withDefaults("mirage0", Ipv4Cidr.parse("10.99.0.0/16"), dir));
        Lease lease = ipam.allocate("t1", "service", Optional.empty());
        Path runDir = Files.createDirectories(dir.resolve("tasks").resolve("t1"));
        DeviceAttachment device = new DeviceAttachment("service", lease.tap(), lease.mac(), lease.ip(), 16,
                "10.99.0.1", List.of());
        DriverState state = new DriverState(DriverState.CURRENT_VERSION, new DriverState.Task("t1", "alloc", "web"),
                TenderKind.SOLO5_HVT, 0, new DriverState.Network(List.of(device), false));
        Files.write(runDir.resolve("task.json"), new ObjectMapper().writeValueAsBytes(
                new TaskRecord(state, new TaskRecord.Launch(List.of(), "/k", 32, List.of()))));
        return lease.tap();
    }

    /** OperatorCli.run is package-private in nomadmirage; calling it here tests the dispatch end to end. */
    private int status(String... args) throws Exception {
        Method run = Class.forName("nomadmirage.OperatorCli").getDeclaredMethod("run", String[].class,
                PrintStream.class, PrintStream.class, CommandRunner.class);
        run.setAccessible(true);
        String[] argv = new String[args.length + 1];
        argv[0] = "status";
        System.arraycopy(args, 0, argv, 1, args.length);
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            return (int) run.invoke(null, argv, o, e, host);
        }
    }

    private static String text(ByteArrayOutputStream stream) {
        return stream.toString(StandardCharsets.UTF_8);
    }
}
