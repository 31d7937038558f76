package nomadmirage.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.MapForward;
import nomadmirage.network.TapNames;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.ProcessCommandRunner;
import nomadmirage.proc.ProcessIdentity;
import nomadmirage.testing.Forwards;
import nomadmirage.testing.GatedProbeRun;
import nomadmirage.testing.PluginNamespace;
import nomadmirage.testing.TaskScript;
import nomadmirage.testing.TaskScript.Result;
import nomadmirage.testing.TaskScript.Task;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Networked unikernels end to end: the real plugin, launched by the Go
 * plugin-probe through Nomad's own driver client inside a network namespace of
 * the test's own ({@link PluginNamespace}), runs the hvt stand-in tender, which
 * opens its tap and answers ARP, ICMP echo and UDP echo (port 7) at the
 * address the driver hands the unikernel ({@code --ipv4=}). Every packet is
 * sent from inside that namespace; the host's namespace is never touched.
 *
 * <p>The probe runs a script in the background and stops at gates
 * ({@link TaskScript#gate}) while the test looks at the namespace with the
 * tasks running.
 */
class NetworkedTaskIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Ipv4Cidr SUBNET = Ipv4Cidr.parse("10.99.0.0/16");
    private static final String BRIDGE = "mirage0";
    private static final String NET_IMAGE = "standin-hello-net.hvt";
    /** The per-task uids (dynamic_user_min..max by default). */
    private static final int TASK_UID_MIN = 80000;
    private static final int TASK_UID_MAX = 89999;
    private static final Pattern LINK_NAME = Pattern.compile("(?m)^\\d+:\\s+([^:@\\s]+)[@:]");
    private static final Pattern RULE_COMMENT = Pattern.compile("--comment \"?(mirage:[^\"\\s]+)\"?");
    private static final Duration GATE_WAIT = Duration.ofSeconds(90);
    private static final Duration PROBE_WAIT = Duration.ofSeconds(170);

    @TempDir
    Path tmp;

    private Path stateDir;
    private Path allocs;
    private Path gates;
    private Path images;
    private Path udpEcho;
    private PluginNamespace ns;
    private final List<GatedProbeRun> runs = new ArrayList<>();

    @BeforeEach
    void layout() throws Exception {
        TaskScript.readable(tmp);
        stateDir = tmp.resolve("state");
        allocs = Files.createDirectory(tmp.resolve("allocs"));
        TaskScript.readable(allocs);
        gates = Files.createDirectory(tmp.resolve("gates"));
        images = TestEnv.fixtures().resolve("images");
        udpEcho = tmp.resolve("udp-echo.py");
        Files.writeString(udpEcho, """
                import socket, sys
                host, port, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(1.0)
                for attempt in range(5):
                    s.sendto(payload, (host, port))
                    try:
                        data, _ = s.recvfrom(2048)
                    except socket.timeout:
                        continue
                    sys.stdout.write(data.decode(errors="replace"))
                    sys.exit(0)
                sys.exit(1)
                """);
        ns = PluginNamespace.create(tmp, TestEnv.launcher());
    }

    @AfterEach
    void tearDown(TestInfo test) throws Exception {
        try {
            // Releases every gate: the probe then stops and destroys the tasks it still knows.
            for (GatedProbeRun run : runs) {
                run.close();
            }
        } finally {
            // The probe's and the plugins' logs, for a failure's post-mortem.
            Path logs = Files.createDirectories(TestEnv.repo().resolve("target/it-logs/NetworkedTaskIT"));
            List<String> lines = new ArrayList<>();
            runs.forEach(run -> lines.addAll(run.log()));
            Files.write(logs.resolve(test.getTestMethod().map(m -> m.getName()).orElse("test") + ".log"), lines);

            // Tenders and supervisors name paths under tmp. Leftovers of this test's own tasks are
            // killed (by pid) before the namespace goes, then reported.
            List<String> left = TaskScript.processesMentioning(tmp.toString());
            for (String entry : left) {
                ProcessHandle.of(Long.parseLong(entry.substring(0, entry.indexOf(':'))))
                        .ifPresent(ProcessHandle::destroyForcibly);
            }
            awaitNoProcessesUnder(tmp, Duration.ofSeconds(10));
            ns.close();
            assertEquals(List.of(), left, "processes left behind");
        }
    }

    // ---------------------------------------------------------------- tests

    @Test
    void networkedTaskAnswersOnItsTapAndThroughItsPortForwardAndLeavesNothingBehind() throws Exception {
        Task task = netTask("echo", 8007);
        TaskScript script = script().launch()
                .start("start", task)
                .inspect("inspect", task)
                .gate(gates, "running", "90s")
                .stop("stop", task, "5s", "")
                .destroy("destroy", task, false);
        GatedProbeRun run = start(script);
        run.awaitGate("running", GATE_WAIT);

        JsonNode device = taskRecord(task).at("/driver_state/network/devices/0");
        String tap = device.get("tap").asText();
        String ip = device.get("ip").asText();
        String mac = device.get("mac").asText();
        String bridgeAddresses = ns.run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE);
        assertTrue(bridgeAddresses.contains(" inet 10.99.0.1/16 "), bridgeAddresses);
        assertTrue(linkFlags(BRIDGE).contains("UP"), "the bridge is down: " + linkFlags(BRIDGE));
        // Multicast snooping off: with it, each new port's coming up walked every port's multicast state.
        String bridgeDetails = ns.run("cat", "/sys/class/net/" + BRIDGE + "/bridge/multicast_snooping");
        assertEquals("0", bridgeDetails.strip(), "multicast snooping on the bridge");
        String tapLink = ns.run("ip", "-o", "link", "show", "dev", tap);
        assertTrue(tapLink.contains(" master " + BRIDGE + " "), "the tap is not a port of the bridge: " + tapLink);
        // The bridge's address is its own and set (NET_ADDR_SET): one never set takes the lowest of its ports'
        // random ones, so the gateway's MAC the guests had learnt changed as taps came and went.
        assertEquals("3", ns.run("cat", "/sys/class/net/" + BRIDGE + "/addr_assign_type").strip(),
                "the bridge's address is not set");
        String bridgeMac = ns.run("cat", "/sys/class/net/" + BRIDGE + "/address").strip();
        assertNotEquals(ns.run("cat", "/sys/class/net/" + tap + "/address").strip(), bridgeMac,
                "the bridge took its only port's address");
        // No IPv6 address of the host's on the tap: its routes made every later tap's start walk them all.
        assertTrue(ns.run("ip", "-d", "-o", "link", "show", "dev", tap).contains(" addrgenmode none "),
                "the tap generates IPv6 addresses: " + ns.run("ip", "-d", "-o", "link", "show", "dev", tap));
        assertEquals("", ns.run("ip", "-o", "-6", "addr", "show", "dev", tap).strip(), "IPv6 addresses on the tap");
        // Unprivileged, a uid of its own, and /dev/net/tun is left as it is (0600 root on this test bed).
        int uid = ownUid(task);
        assertTrue(uid >= TASK_UID_MIN && uid <= TASK_UID_MAX, "the task's own uid: " + uid);
        assertEquals(Integer.toString(uid), ns.run("cat", "/sys/class/net/" + tap + "/owner").strip(), "tap owner");
        String tenderStatus = Files.readString(Path.of("/proc", tenderPid(task), "status"));
        assertTrue(tenderStatus.contains("\nUid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n"), tenderStatus);
        assertTrue(tenderStatus.contains("\nNoNewPrivs:\t1\n"), tenderStatus);
        assertTrue(Files.readString(Path.of("/proc", tenderPid(task), "limits")).matches(
                "(?s).*Max core file size\s+0\s+0\s.*"), "core dumps are off");

        awaitGuestUp(task, mac);
        CommandResult ping = ns.exec("ping", "-c1", "-W2", ip);
        assertTrue(ping.succeeded(), ping.summary() + "\n" + ping.stdout());
        assertEquals("direct-" + task.allocId, udpEcho(ip, 7, "direct-" + task.allocId), "UDP echo at " + ip + ":7");
        assertEquals("forwarded-" + task.allocId, udpEcho("127.0.0.1", 8007, "forwarded-" + task.allocId),
                "UDP echo through the port forward 127.0.0.1:8007 -> " + ip + ":7");
        assertEquals(Set.copyOf(Forwards.of("", 8007, ip, 7)), Set.copyOf(forwards()),
                "the node's forwards are the task's: TCP and UDP of *:8007 to " + ip + ":7");
        assertEquals(Set.copyOf(expectedForwards(task)), Set.copyOf(forwards()), "as its task record has them");
        String rules = ns.run("iptables-save");
        assertFalse(commentsIn(rules).contains("mirage:" + task.id), "a forward is a map element, not a rule:\n" + rules);
        run.release("running");

        Result r = run.finish(PROBE_WAIT);
        JsonNode started = r.ok("start");
        JsonNode network = started.get("network");
        assertTrue(network != null && network.isObject(), "StartTask returned no network override: " + started);
        assertEquals(ip, network.get("ip").asText(), network.toString());
        assertTrue(inSubnet(ip), ip + " is not in " + SUBNET);
        assertEquals(JSON.readTree("{\"echo\": 7}"), network.get("port_map"), network.toString());
        assertFalse(network.get("auto_advertise").booleanValue(), network.toString());

        JsonNode inspect = r.ok("inspect");
        JsonNode attrs = inspect.get("driver_attributes");
        assertEquals(tap, attrs.path("net.service.tap").asText(), attrs.toString());
        assertEquals(mac, attrs.path("net.service.mac").asText(), attrs.toString());
        assertEquals(ip + "/16", attrs.path("net.service.ip").asText(), attrs.toString());
        assertEquals("10.99.0.1", attrs.path("net.service.gateway").asText(), attrs.toString());
        List<String> argv = List.of(attrs.path("argv").asText().split(" "));
        assertTrue(argv.contains("--ipv4=" + ip + "/16") && argv.contains("--ipv4-gateway=10.99.0.1")
                && argv.contains("--standin-run"), "the guest's arguments: " + argv);
        assertEquals(network, inspect.get("network_override"), "InspectTask's network override");

        r.ok("stop");
        r.ok("destroy");
        assertFalse(linkExists(tap), "tap " + tap + " survived DestroyTask");
        assertEquals(List.of(), tunDevices(), "taps left");
        assertFalse(commentsIn(ns.run("iptables-save")).contains("mirage:" + task.id), ns.run("iptables-save"));
        assertEquals(List.of(), forwards(), "forwards left in the nft maps");
        assertEquals(List.of(), leasesOf(task.id), "leases left");
        assertFalse(Files.exists(task.runDir(stateDir)), "run directory left");
    }

    @Test
    void fiftyParallelNetworkedStartsGetDistinctTapsAddressesAndMacsSurviveAPluginKillAndGiveThemAllBack()
            throws Exception {
        int count = 50;
        List<Task> tasks = new ArrayList<>();
        TaskScript script = script().launch();
        for (int i = 0; i < count; i++) {
            tasks.add(netTask("t" + i, 20000 + i));
        }
        script.startInParallel("start-", tasks);
        script.gate(gates, "all-started", "90s");
        // Issue 10's "500 tasks per node" at a tenth: SIGKILL the plugin, relaunch it, recover every task.
        script.killPlugin("kill").launch();
        for (int i = 0; i < count; i++) {
            script.recover("recover-" + i, tasks.get(i), true);
        }
        script.gate(gates, "all-recovered", "90s");
        for (int i = 0; i < count; i++) {
            script.destroy("destroy-" + i, tasks.get(i), true);
        }
        GatedProbeRun run = start(script);
        run.awaitGate("all-started", GATE_WAIT);

        Set<String> present = new HashSet<>(tunDevices());
        Set<Integer> uids = new HashSet<>();
        List<JsonNode> leases = leases();
        assertEquals(count, leases.size(), "leases: " + leases);
        for (Task task : tasks) {
            String tap = taskRecord(task).at("/driver_state/network/devices/0").get("tap").asText();
            assertTrue(present.contains(tap), "tap " + tap + " of " + task.id + " is missing: " + present);
            int uid = ownUid(task);
            assertTrue(uid >= TASK_UID_MIN && uid <= TASK_UID_MAX, task.id + " runs as " + uid);
            assertTrue(uids.add(uid), "uid " + uid + " of " + task.id + " is another task's too: " + uids);
            assertEquals(Integer.toString(uid), ns.run("cat", "/sys/class/net/" + tap + "/owner").strip(),
                    "owner of " + tap);
        }
        Map<Task, String> tenders = new HashMap<>();
        for (Task task : tasks) {
            tenders.put(task, tenderPid(task));
        }
        assertEveryNetworkPresent(tasks);
        run.release("all-started");

        run.awaitGate("all-recovered", GATE_WAIT);
        assertEveryNetworkPresent(tasks);
        // The relaunched plugin watches the recovered supervisors through its service's pidfds: no JDK
        // "process reaper" thread polls each (there were 500, 55 MB of stacks, after a 500-task recovery).
        long reapers = threadNames(pluginPid()).stream().filter(n -> n.startsWith("process reaper")).count();
        assertTrue(reapers < 5, reapers + " \"process reaper\" threads in the plugin after recovering " + count + " tasks");
        for (Task task : tasks) {
            assertEquals(tenders.get(task), tenderPid(task), "the tender of " + task.id + " after the recovery");
            assertTrue(ProcessHandle.of(Long.parseLong(tenders.get(task))).map(ProcessHandle::isAlive).orElse(false),
                    "the tender of " + task.id + " died with the plugin");
        }
        run.release("all-recovered");

        Result r = run.finish(PROBE_WAIT);
        Set<String> taps = new TreeSet<>();
        Set<String> ips = new TreeSet<>();
        Set<String> macs = new TreeSet<>();
        for (int i = 0; i < count; i++) {
            JsonNode started = r.ok("start-" + i);
            JsonNode device = TaskScript.driverState(started.at("/handle/driver_state")).at("/network/devices/0");
            assertTrue(device.isObject(), "no network in the driver state: " + started);
            assertEquals(device.get("ip").asText(), started.at("/network/ip").asText(), started.toString());
            assertTrue(inSubnet(device.get("ip").asText()), device.toString());
            taps.add(device.get("tap").asText());
            ips.add(device.get("ip").asText());
            macs.add(device.get("mac").asText());
        }
        assertEquals(count, taps.size(), "taps: " + taps);
        assertEquals(count, ips.size(), "addresses: " + ips);
        assertEquals(count, macs.size(), "MACs: " + macs);
        assertFalse(ips.contains("10.99.0.1"), "the gateway was leased: " + ips);

        for (int i = 0; i < count; i++) {
            r.ok("recover-" + i);
            r.ok("destroy-" + i);
        }
        assertEquals(List.of(), tunDevices(), "taps left");
        assertEquals(Set.of("mirage:pool"), commentsIn(ns.run("iptables-save")), "only the pool's rules may stay");
        assertEquals(List.of(), forwards(), "forwards left in the nft maps");
        assertEquals(List.of(), leases(), "leases left");
        assertEquals(List.of(), runDirs(), "run directories left");
        assertFalse(ns.run("nft", "list", "table", "bridge", "nomad_mirage").contains("\"mg"), "pins left");
    }

    private static List<String> threadNames(long pid) throws IOException {
        List<String> names = new ArrayList<>();
        try (Stream<Path> threads = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path thread : threads.toList()) {
                try {
                    names.add(Files.readString(thread.resolve("comm")).strip());
                } catch (IOException gone) {
                    // the thread ended meanwhile
                }
            }
        }
        return names;
    }

    /** Each task's tap, its forwards and its pin (tap . MAC . address) are there, and no two tasks share one. */
    private void assertEveryNetworkPresent(List<Task> tasks) throws Exception {
        Set<String> present = new HashSet<>(tunDevices());
        Set<String> comments = commentsIn(ns.run("iptables-save"));
        List<MapForward> forwarded = forwards();
        // Pins a start wrote through the supervisor service's netlink batch: the elements nft itself makes.
        String pins = ns.run("nft", "list", "set", "bridge", "nomad_mirage", "ip_pins");
        String arpPins = ns.run("nft", "list", "set", "bridge", "nomad_mirage", "arp_pins");
        String pinnedTaps = ns.run("nft", "list", "set", "bridge", "nomad_mirage", "taps");
        Set<String> ips = new HashSet<>();
        for (Task task : tasks) {
            JsonNode device = taskRecord(task).at("/driver_state/network/devices/0");
            String tap = device.get("tap").asText();
            assertTrue(present.contains(tap), "tap " + tap + " of " + task.id + " is missing");
            List<MapForward> expected = expectedForwards(task);
            assertEquals(2, expected.size(), "one port of " + task.id + ", TCP and UDP: " + expected);
            assertEquals(Set.copyOf(expected), forwarded.stream().filter(f -> f.guestIp().equals(device.get("ip").asText()))
                    .collect(Collectors.toSet()), "the forwards to " + task.id + "'s address are its own");
            assertFalse(comments.contains("mirage:" + task.id), "a per-task rule of " + task.id);
            assertTrue(pins.contains("\"" + tap + "\" . " + device.get("mac").asText() + " . " + device.get("ip").asText()),
                    "the pin of " + tap + " is missing:\n" + pins);
            String mac = device.get("mac").asText();
            assertTrue(arpPins.contains("\"" + tap + "\" . " + mac + " . " + mac + " . " + device.get("ip").asText()),
                    "the ARP pin of " + tap + " is missing:\n" + arpPins);
            assertTrue(pinnedTaps.contains("\"" + tap + "\""), tap + " is not in the set of pinned taps");
            assertTrue(ips.add(device.get("ip").asText()), "address of " + task.id + " is another task's too");
        }
    }

    @Test
    void badNetworkConfigIsRefusedAsUnrecoverableNamingTheFieldAndLeavesNothing() throws Exception {
        Task unknownDevice = netTask("unknown-device", 8101)
                .config("network", List.of(Map.of("device", "nosuchdevice")));
        Task unknownPort = netTask("unknown-port", 8102)
                .config("network", List.of(Map.of("device", "service", "ports", List.of("web"))));
        Task outside = netTask("outside", 8103)
                .config("network", List.of(Map.of("device", "service", "address", "192.168.7.9")));
        Result r = script().launch()
                .start("unknown-device", unknownDevice)
                .start("unknown-port", unknownPort)
                .start("outside", outside)
                .run(tmp, ns.launcher(), line -> { });

        Map<String, List<String>> expected = new LinkedHashMap<>();
        expected.put("unknown-device", List.of("network[0].device", "\"nosuchdevice\"", "service"));
        expected.put("unknown-port", List.of("network[0].ports", "\"web\"", "echo"));
        expected.put("outside", List.of("network[0].address", "192.168.7.9", "outside", "10.99.0.0/16"));
        for (Map.Entry<String, List<String>> e : expected.entrySet()) {
            JsonNode step = r.step(e.getKey());
            assertTrue(step.get("decode_error").isNull(), step.toString());
            String error = r.error(e.getKey());
            for (String part : e.getValue()) {
                assertTrue(error.contains(part), e.getKey() + ": the error should name " + part + ": " + error);
            }
            assertTrue(step.get("recoverable_error").booleanValue(), "the plugin must say whether: " + step);
            assertFalse(step.get("recoverable").booleanValue(), "a config error cannot be retried: " + step);
        }
        String rules = ns.run("iptables-save");
        assertEquals(List.of(), forwards(), "forwards left in the nft maps");
        for (Task task : List.of(unknownDevice, unknownPort, outside)) {
            assertFalse(linkExists(TapNames.forDevice(task.id, "service")), task.id);
            assertFalse(commentsIn(rules).contains("mirage:" + task.id), rules);
            assertEquals(List.of(), leasesOf(task.id), task.id);
            assertFalse(Files.exists(task.runDir(stateDir)), "run directory left for " + task.id);
        }
        assertEquals(List.of(), tunDevices(), "taps left");
        assertEquals(List.of(), leases(), "leases left");
    }

    /**
     * The reconcile runs while Nomad may still be starting tasks (the agent starts new
     * allocations as soon as the driver is healthy). It must never take the network of a
     * task whose StartTask is in progress: that task would run without its tap and port
     * forwards, and its address would be leased again to the next task.
     *
     * <p>Deterministically: the StartTask of "held" stops in the launch, after its network
     * is attached, because its console is a FIFO nobody reads yet. The test waits until a
     * reconcile has begun meanwhile (its thread waits in TaskManager.reconcile for the
     * write side of the starts' lock, seen in a thread dump of the plugin), then lets the
     * start finish. Tasks are started before and after it, with a reconcile every second.
     */
    @Test
    void reconcileDuringStartTasksLeavesTheNetworksOfTasksBeingStartedAlone() throws Exception {
        int count = 40;
        String marker = "mgreconcilemark";
        assertTrue(TapNames.isOurs(marker));
        List<Task> tasks = new ArrayList<>();
        Task held = netTask("held", 22999);
        assertEquals(0, new ProcessBuilder("mkfifo", held.stdout.toString()).inheritIO().start().waitFor(),
                "mkfifo " + held.stdout);
        TaskScript script = script("reconcile_delay", "500ms", "reconcile_interval", "1s").launch();
        for (int i = 0; i < count; i++) {
            Task task = netTask("r" + i, 22000 + i);
            tasks.add(task);
            if (i == count / 2) {
                script.start("start-held", held);
            }
            script.start("start-" + i, task);
        }
        script.gate(gates, "started", "90s");
        for (int i = 0; i < count; i++) {
            script.destroy("destroy-" + i, tasks.get(i), true);
        }
        script.destroy("destroy-held", held, true);
        GatedProbeRun run = start(script);

        // The held start has its network (a lease) and waits in the launch for a reader of its console.
        awaitCondition("the held StartTask to attach its network", Duration.ofSeconds(60),
                () -> leasesOf(held.id).size() == 1, () -> run.logTail(40));
        long plugin = pluginPid();
        awaitCondition("a reconcile waiting for the held StartTask", Duration.ofSeconds(20),
                () -> reconcileWaitsForStarts(plugin), () -> threadDump(plugin) + "\n" + run.logTail(40));
        // The record is written while the supervisor starts the tender; the tender file only once it runs.
        assertFalse(Files.exists(held.runDir(stateDir).resolve("tender")),
                "the held StartTask ended before its console was read");
        // A stray tap of the plugin's shape: once it is gone, a reconcile ran after the held start.
        ns.run("ip", "tuntap", "add", "dev", marker, "mode", "tap");
        CompletableFuture<byte[]> console = CompletableFuture.supplyAsync(() -> {
            try (InputStream in = Files.newInputStream(held.stdout)) { // lets the held launch go on
                return in.readAllBytes(); // until the tender and its supervisor are gone
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, r -> Thread.ofPlatform().daemon().name("held-console").start(r));

        run.awaitGate("started", GATE_WAIT);
        awaitCondition("a reconcile after the held start (the marker tap to be removed)", Duration.ofSeconds(20),
                () -> !linkExists(marker), () -> run.logTail(40));
        List<String> log = run.log();
        assertTrue(indexOf(log, "task networks reconciled") >= 0, "no reconcile in the log:\n" + run.logTail(40));

        Set<String> present = new HashSet<>(tunDevices());
        Set<MapForward> forwarded = Set.copyOf(forwards());
        List<String> lost = new ArrayList<>();
        Map<String, String> ipOwner = new HashMap<>();
        List<Task> all = new ArrayList<>(tasks);
        all.add(held);
        for (Task task : all) {
            JsonNode device = taskRecord(task).at("/driver_state/network/devices/0");
            String tap = device.get("tap").asText();
            boolean forwards = forwarded.containsAll(expectedForwards(task));
            if (leasesOf(task.id).size() != 1 || !present.contains(tap) || !forwards) {
                lost.add(task.name + " (" + device.get("ip").asText() + ", lease " + leasesOf(task.id).size()
                        + ", tap " + present.contains(tap) + ", forwards " + forwards + ")");
            }
            String other = ipOwner.put(device.get("ip").asText(), task.name);
            if (other != null) {
                lost.add(device.get("ip").asText() + " given to both " + other + " and " + task.name);
            }
        }
        assertEquals(List.of(), lost, "running tasks whose network the reconcile took (or whose address it gave away)");
        run.release("started");
        Result r = run.finish(PROBE_WAIT);
        r.ok("start-held");
        r.ok("destroy-held");
        for (int i = 0; i < count; i++) {
            r.ok("start-" + i);
            r.ok("destroy-" + i);
        }
        console.get(30, TimeUnit.SECONDS);
    }

    /**
     * Plugin crashes (SIGKILL) at random points: between StartTasks, in the middle of
     * one, after them, in the middle of a DestroyTask. After each crash a new plugin
     * recovers the tasks the "agent" still knows and destroys again what it was
     * destroying; some tasks it never recovers, and their tenders die (the test
     * kills them, as a node reboot or an operator would). Once the last plugin's
     * reconcile has run, everything of ours on the node must belong to a task
     * that was recovered or still runs.
     */
    @Test
    void pluginCrashesAtRandomPointsLeaveNoOrphanedTapsRulesOrLeases() throws Exception {
        String seedText = System.getProperty("mirage.it.seed", System.getenv("MIRAGE_IT_SEED"));
        long seed = seedText == null || seedText.isEmpty() ? System.nanoTime() : Long.parseLong(seedText);
        Random random = new Random(seed);
        String rerun = "seed " + seed + " (rerun: -Dmirage.it.seed=" + seed + ")";
        int iterations = 8;
        String marker = "mgreconcilemark";
        assertTrue(TapNames.isOurs(marker));

        TaskScript script = script("reconcile_delay", "1s").noCleanup().launch();
        List<Tracked> all = new ArrayList<>();
        Map<String, List<Tracked>> killAtGate = new HashMap<>();
        List<String> crashes = new ArrayList<>();
        int port = 21000;
        // One task is started before any crash is scheduled and never picked for destroy or
        // abandonment, so every plan leaves at least one task for the last plugin to recover.
        Tracked anchor = new Tracked(netTask("anchor", port++));
        all.add(anchor);
        script.start("start-" + anchor.task.name, anchor.task);
        anchor.started = true;
        anchor.fate = Fate.KNOWN;
        for (int iter = 0; iter < iterations; iter++) {
            List<Tracked> known = all.stream().filter(t -> t.fate == Fate.KNOWN && t != anchor).toList();
            List<Op> ops = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Tracked t = new Tracked(netTask("c" + iter + "x" + i, port++));
                all.add(t);
                ops.add(new Op(true, t));
            }
            if (!known.isEmpty()) {
                ops.add(new Op(false, known.get(random.nextInt(known.size()))));
            }
            Collections.shuffle(ops, random);
            int crashAt = random.nextInt(ops.size() + 1);
            boolean during = crashAt < ops.size() && random.nextBoolean();
            List<Tracked> abandoned = new ArrayList<>();
            for (int k = 0; k < ops.size(); k++) {
                Op op = ops.get(k);
                if (k == crashAt && during) {
                    String delay = random.nextInt(120) + "ms";
                    script.killPluginAfter("kill-" + iter, delay);
                    crashes.add(iter + ": during " + (op.start ? "StartTask" : "DestroyTask") + " of "
                            + op.task.task.name + " (+" + delay + ")");
                }
                if (k == crashAt && !during) {
                    break;
                }
                if (op.start) {
                    script.start("start-" + op.task.task.name, op.task.task);
                    op.task.started = true;
                    op.task.fate = Fate.KNOWN;
                    if (k == crashAt) {
                        op.task.startInterrupted = true;
                        op.task.fate = Fate.ABANDONED;
                        abandoned.add(op.task);
                    }
                } else {
                    script.destroy("destroy-" + op.task.task.name, op.task.task, true);
                    op.task.fate = k == crashAt ? Fate.DESTROY_INTERRUPTED : Fate.DESTROYED;
                    op.task.destroyLabel = k == crashAt ? null : "destroy-" + op.task.task.name;
                }
                if (k == crashAt) {
                    break;
                }
            }
            if (!during) {
                script.killPlugin("kill-" + iter);
                crashes.add(iter + ": after " + crashAt + " of " + ops.size() + " steps");
            }
            List<Tracked> stillKnown = all.stream().filter(t -> t.fate == Fate.KNOWN && t != anchor).toList();
            if (stillKnown.size() > 1 && random.nextInt(3) == 0) {
                Tracked lost = stillKnown.get(random.nextInt(stillKnown.size()));
                lost.fate = Fate.ABANDONED;
                abandoned.add(lost);
            }
            killAtGate.put("crash-" + iter, abandoned);
            script.gate(gates, "crash-" + iter, "60s");
            script.launch();
            for (Tracked t : all) {
                if (t.fate == Fate.KNOWN) {
                    script.recover("recover-" + iter + "-" + t.task.name, t.task, true);
                } else if (t.fate == Fate.DESTROY_INTERRUPTED) {
                    script.recover("recover-" + iter + "-" + t.task.name, t.task, true);
                    script.destroy("redestroy-" + iter + "-" + t.task.name, t.task, true);
                    t.fate = Fate.DESTROYED;
                    t.destroyLabel = "redestroy-" + iter + "-" + t.task.name;
                }
            }
        }
        script.gate(gates, "settled", "60s");
        List<Tracked> recovered = all.stream().filter(t -> t.fate == Fate.KNOWN).toList();

        GatedProbeRun run = start(script);
        Map<String, Boolean> pings = new LinkedHashMap<>();
        try {
            for (int iter = 0; iter < iterations; iter++) {
                String gate = "crash-" + iter;
                run.awaitGate(gate, GATE_WAIT);
                for (Tracked t : killAtGate.get(gate)) {
                    killTender(t.task);
                }
                if (iter == iterations - 1) {
                    // A stray tap of our shape: once it is gone, the last plugin's reconcile has run.
                    ns.run("ip", "tuntap", "add", "dev", marker, "mode", "tap");
                }
                run.release(gate);
            }
            run.awaitGate("settled", GATE_WAIT);
            Set<String> keep = new TreeSet<>();
            recovered.forEach(t -> keep.add(t.task.id));
            List<String> violations = List.of();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < deadline) {
                Set<String> expected = new TreeSet<>(keep);
                expected.addAll(liveTaskIds());
                violations = orphans(expected);
                if (!linkExists(marker) && violations.isEmpty()) {
                    break;
                }
                Thread.sleep(100);
            }
            assertFalse(linkExists(marker), "the last plugin never reconciled (marker tap still there); " + rerun
                    + "\ncrashes: " + crashes + "\n" + run.logTail(60));
            assertEquals(List.of(), violations, "objects of tasks neither recovered nor running; " + rerun
                    + "\ncrashes: " + crashes + "\n" + run.logTail(60));
            for (Tracked t : recovered) {
                pings.put(t.task.id, awaitPing(guestIp(t.task)));
            }
            run.release("settled");
            Result r = run.finish(PROBE_WAIT);

            for (Tracked t : all) {
                if (t.started && !t.startInterrupted) {
                    r.ok("start-" + t.task.name);
                }
                if (t.destroyLabel != null) {
                    JsonNode destroy = r.step(t.destroyLabel);
                    if (!destroy.get("error").isNull()) {
                        // The interrupted destroy had finished before the crash: the relaunched plugin finds
                        // no run directory, so the recovery and the repeated destroy are both NOT_FOUND.
                        String recover = t.destroyLabel.replaceFirst("^redestroy-", "recover-");
                        assertTrue(destroy.get("error").asText().contains("code = NotFound")
                                && r.error(recover).contains("code = NotFound"), destroy + "\n" + r.step(recover));
                    }
                }
            }
            int lastLaunch = r.step("gate-settled").get("plugin").intValue();
            for (Tracked t : recovered) {
                JsonNode step = r.ok("recover-" + (iterations - 1) + "-" + t.task.name);
                assertEquals(lastLaunch, step.get("plugin").intValue(), step.toString());
            }
            assertFalse(recovered.isEmpty(), "no task was left to recover; " + rerun + "\ncrashes: " + crashes);

            Set<String> live = liveTaskIds();
            Set<String> keepNow = new TreeSet<>(keep);
            keepNow.addAll(live);
            assertEquals(List.of(), orphans(keepNow), rerun + "\ncrashes: " + crashes);
            for (Tracked t : recovered) {
                String id = t.task.id;
                assertTrue(live.contains(id), "recovered task " + id + " no longer runs; " + rerun + "\n"
                        + runDirReport(t.task) + "\ncrashes: " + crashes + "\nevents: " + r.events(lastLaunch, t.task)
                        + "\nplugin log about it:\n" + String.join("\n", run.log().stream()
                                .filter(l -> l.contains(t.task.runDir(stateDir).getFileName().toString()) || l.contains(id))
                                .toList()));
                List<JsonNode> own = leasesOf(id);
                assertEquals(1, own.size(), "leases of recovered task " + id + ": " + own + "; " + rerun
                        + "\ncrashes: " + crashes);
                assertTrue(linkExists(TapNames.forDevice(id, "service")), "tap of recovered task " + id + " is gone; "
                        + rerun + "\ncrashes: " + crashes);
                assertTrue(forwards().containsAll(expectedForwards(t.task)),
                        "the port forward of recovered task " + id + " is gone; " + rerun + "\nforwards: " + forwards());
                assertTrue(pings.get(id), "recovered task " + id + " (" + guestIp(t.task) + ") does not answer ping; "
                        + rerun + "\ncrashes: " + crashes);
            }
            Map<String, String> ipOfLiveTask = new HashMap<>();
            for (String id : live) {
                Tracked t = all.stream().filter(x -> x.task.id.equals(id)).findFirst().orElseThrow();
                String ip = guestIp(t.task);
                String other = ipOfLiveTask.put(ip, id);
                assertTrue(other == null, ip + " is used by two running tasks: " + other + " and " + id + "; " + rerun);
            }
        } finally {
            run.close();
            for (Tracked t : all) {
                killTender(t.task);
            }
        }
    }

    @Test
    void statusCommandListsTheLiveTaskAndFlagsAnOrphanTap() throws Exception {
        Task task = netTask("status", 8007);
        TaskScript script = script().launch()
                .start("start", task)
                .gate(gates, "running", "90s")
                .stop("stop", task, "5s", "")
                .destroy("destroy", task, false);
        GatedProbeRun run = start(script);
        run.awaitGate("running", GATE_WAIT);
        JsonNode device = taskRecord(task).at("/driver_state/network/devices/0");
        String tap = device.get("tap").asText();
        String ip = device.get("ip").asText();
        String mac = device.get("mac").asText();
        awaitGuestUp(task, mac);

        String orphan = "mgorphanzzzzzzz";
        assertTrue(TapNames.isOurs(orphan));
        String foreign = "mgorphan0000001";
        ns.run("ip", "tuntap", "add", "dev", orphan, "mode", "tap");
        ns.run("ip", "tuntap", "add", "dev", foreign, "mode", "tap");
        CommandResult status = ns.exec(TestEnv.launcher().toString(), "status", "--state-dir", stateDir.toString());
        String out = status.stdout();
        assertTrue(status.succeeded(), status.summary() + "\n" + out);
        assertTrue(out.contains("- " + task.id + "  (solo5-hvt, running, pid "), out);
        assertTrue(out.contains("service: tap " + tap + "  mac " + mac + "  ip " + ip + "/16  gateway 10.99.0.1"), out);
        assertTrue(out.contains("port echo: *:8007 -> " + ip + ":7 (tcp, udp)"), out);
        for (MapForward forward : Forwards.of("", 8007, ip, 7)) {
            assertTrue(out.lines().anyMatch(l -> l.strip().equals("rule " + Forwards.described(forward))),
                    "status shows the forward " + forward.element() + ":\n" + out);
        }
        assertFalse(out.contains("mirage:" + task.id), "a per-task rule in the status:\n" + out);
        String orphans = out.substring(out.indexOf("\norphans: "));
        assertTrue(orphans.contains("\n- tap " + orphan + "\n"), "the orphan tap is not flagged:\n" + out);
        // A link that merely starts with "mg" is not of the plugin's shape (mg + 13 base32
        // characters): it is someone else's, neither flagged nor ever removed by the reconcile.
        assertFalse(orphans.contains(foreign), "a link that is not the plugin's is called an orphan:\n" + out);
        assertFalse(orphans.contains(tap), "the live task's tap is called an orphan:\n" + out);
        run.release("running");
        Result r = run.finish(PROBE_WAIT);
        r.ok("destroy");
        assertFalse(linkExists(tap));
    }

    // ---------------------------------------------------------------- crash model

    private enum Fate { NEW, KNOWN, ABANDONED, DESTROYED, DESTROY_INTERRUPTED }

    private static final class Tracked {
        final Task task;
        Fate fate = Fate.NEW;
        boolean started;
        boolean startInterrupted;
        String destroyLabel;

        Tracked(Task task) {
            this.task = task;
        }
    }

    private record Op(boolean start, Tracked task) {
    }

    // ---------------------------------------------------------------- helpers

    private Map<String, Object> pluginConfig(Object... extra) {
        Map<String, Object> config = new LinkedHashMap<>();
        Path bin = TestEnv.fixtures().resolve("bin");
        config.put("state_dir", stateDir.toString());
        config.put("solo5_hvt", bin.resolve("solo5-hvt").toString());
        config.put("solo5_spt", bin.resolve("solo5-spt").toString());
        config.put("log_level", "debug");
        for (int i = 0; i < extra.length; i += 2) {
            config.put((String) extra[i], extra[i + 1]);
        }
        return config;
    }

    private TaskScript script(Object... extraConfig) {
        return new TaskScript(pluginConfig(extraConfig));
    }

    private GatedProbeRun start(TaskScript script) {
        GatedProbeRun run = GatedProbeRun.start(script, gates, tmp, ns.launcher());
        runs.add(run);
        return run;
    }

    /** A long-running networked stand-in unikernel with one port: {@code hostPort} on the node, 7 (echo) inside. */
    private Task netTask(String name, int hostPort) throws IOException {
        return Task.create(allocs, name, images.resolve(NET_IMAGE)).args("--standin-run").port("echo", hostPort, 7);
    }

    private int ownUid(Task task) throws IOException {
        return Integer.parseInt(Files.readString(task.runDir(stateDir).resolve("own-uid")).strip());
    }

    private String tenderPid(Task task) throws IOException {
        for (String line : Files.readAllLines(task.runDir(stateDir).resolve("tender"))) {
            if (line.startsWith("pid=")) {
                return line.substring("pid=".length());
            }
        }
        throw new AssertionError("no tender pid recorded for " + task.id);
    }

    private JsonNode taskRecord(Task task) throws IOException {
        return JSON.readTree(task.runDir(stateDir).resolve("task.json").toFile());
    }

    /** The port forwards in the plugin's namespace: the elements of both nft maps. */
    private List<MapForward> forwards() {
        return Forwards.in(ns.name());
    }

    /** The map elements of the task's first device as its task record has them (TCP and UDP of each port). */
    private List<MapForward> expectedForwards(Task task) throws IOException {
        return MapForward.of(JSON.treeToValue(taskRecord(task).at("/driver_state/network/devices/0"),
                DeviceAttachment.class));
    }

    private String guestIp(Task task) throws IOException {
        return taskRecord(task).at("/driver_state/network/devices/0/ip").asText();
    }

    /** Until the stand-in reports its network device configured (it then answers ARP, ICMP and UDP). */
    private void awaitGuestUp(Task task, String mac) throws Exception {
        String line = "standin: net service: mac " + mac;
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!task.stdoutText().contains(line)) {
            if (System.nanoTime() > deadline || task.stderrText().contains("Could not attach interface")) {
                fail("the guest never configured its network; console:\n" + task.stdoutText() + "\n"
                        + task.stderrText());
            }
            Thread.sleep(20);
        }
    }

    private boolean awaitPing(String ip) throws IOException {
        for (int attempt = 0; attempt < 3; attempt++) {
            if (ns.exec("ping", "-c1", "-W2", ip).succeeded()) {
                return true;
            }
        }
        return false;
    }

    /** The UDP echo reply to {@code payload}, sent from inside the namespace (retried a few times). */
    private String udpEcho(String host, int port, String payload) throws IOException {
        String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
        CommandResult result = ns.exec(python, udpEcho.toString(), host, Integer.toString(port), payload);
        assertTrue(result.succeeded(), "no UDP echo from " + host + ":" + port + ": " + result.summary());
        return result.stdout();
    }

    private List<String> linkFlags(String link) {
        String line = ns.run("ip", "-o", "link", "show", "dev", link);
        Matcher m = Pattern.compile("<([^>]*)>").matcher(line);
        assertTrue(m.find(), line);
        return List.of(m.group(1).split(","));
    }

    private boolean linkExists(String name) throws IOException {
        return ns.exec("ip", "link", "show", "dev", name).succeeded();
    }

    /** Every tun/tap device in the namespace. */
    private List<String> tunDevices() {
        List<String> names = new ArrayList<>();
        Matcher m = LINK_NAME.matcher(ns.run("ip", "-o", "link", "show", "type", "tun"));
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    private static Set<String> commentsIn(String iptablesSave) {
        Set<String> comments = new TreeSet<>();
        Matcher m = RULE_COMMENT.matcher(iptablesSave);
        while (m.find()) {
            comments.add(m.group(1));
        }
        return comments;
    }

    private List<JsonNode> leases() throws IOException {
        List<JsonNode> out = new ArrayList<>();
        try {
            JSON.valueToTree(nomadmirage.network.Ipam.stored(new nomadmirage.state.StateDirectory(stateDir)))
                    .forEach(out::add);
        } catch (nomadmirage.network.NetworkSetupException e) {
            throw new IOException(e.getMessage(), e);
        }
        return out;
    }

    private List<JsonNode> leasesOf(String taskId) throws IOException {
        return leases().stream().filter(l -> l.path("task_id").asText().equals(taskId)).toList();
    }

    private List<Path> runDirs() throws IOException {
        Path tasks = stateDir.resolve("tasks");
        if (!Files.isDirectory(tasks)) {
            return List.of();
        }
        try (Stream<Path> dirs = Files.list(tasks)) {
            return dirs.toList();
        }
    }

    private static boolean inSubnet(String ip) {
        Integer address = Ipv4Cidr.parseAddress(ip);
        int mask = -1 << (32 - SUBNET.prefixLength());
        return address != null && (address & mask) == SUBNET.network();
    }

    /** The tender recorded in a run directory, if it still runs. */
    private static Optional<ProcessIdentity> liveTender(Path runDir) {
        try {
            Map<String, String> fields = new HashMap<>();
            for (String line : Files.readAllLines(runDir.resolve("tender"))) {
                int eq = line.indexOf('=');
                if (eq > 0) {
                    fields.put(line.substring(0, eq), line.substring(eq + 1));
                }
            }
            ProcessIdentity id = new ProcessIdentity(Long.parseLong(fields.get("pid")),
                    Long.parseLong(fields.get("start_ticks")));
            return id.isAlive() ? Optional.of(id) : Optional.empty();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            throw new AssertionError("unreadable tender record in " + runDir, e);
        }
    }

    /** Ids of the tasks whose run directory has a task record and a live tender (what the driver's reconcile keeps). */
    /** What the task's run directory holds (status, console tail, supervisor log), for a failure message. */
    private String runDirReport(Task task) {
        StringBuilder out = new StringBuilder("run dir of " + task.id + ":");
        for (String name : List.of("supervisor", "tender", "status", "console.tail", "supervisor.log", "own-uid")) {
            Path file = task.runDir(stateDir).resolve(name);
            try {
                out.append("\n--- ").append(name).append(":\n").append(Files.readString(file));
            } catch (IOException e) {
                out.append("\n--- ").append(name).append(": ").append(e);
            }
        }
        return out.toString();
    }

    private Set<String> liveTaskIds() throws IOException {
        Set<String> live = new TreeSet<>();
        for (Path dir : runDirs()) {
            Path record = dir.resolve("task.json");
            if (Files.exists(record) && liveTender(dir).isPresent()) {
                live.add(JSON.readTree(record.toFile()).at("/driver_state/task/id").asText());
            }
        }
        return live;
    }

    /**
     * Kills the task's tender (by the pid and start time its run directory records), or, when
     * its start was cut short before that record, any process running its unikernel; then
     * waits until its supervisor, too, has gone.
     */
    private void killTender(Task task) throws Exception {
        Optional<ProcessIdentity> tender = liveTender(task.runDir(stateDir));
        tender.flatMap(t -> ProcessHandle.of(t.pid())).ifPresent(ProcessHandle::destroyForcibly);
        String kernel = task.taskDir.resolve("local").resolve(NET_IMAGE).toString();
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (true) {
            List<String> running = TaskScript.processesMentioning(kernel);
            if (running.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                fail("the tender of " + task.id + " survived SIGKILL: " + running);
            }
            for (String entry : running) {
                // The supervisor (its command line names the tender's) records the exit and ends by itself.
                if (!entry.contains("mirage-supervisor")) {
                    ProcessHandle.of(Long.parseLong(entry.substring(0, entry.indexOf(':'))))
                            .ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            Thread.sleep(10);
        }
    }

    /**
     * What the node holds that belongs to no task in {@code keep}: leases, taps (ours, by
     * shape, including those of no lease), forwards (to an address no kept task leases) and task rules;
     * and addresses or MACs leased twice.
     */
    private List<String> orphans(Set<String> keep) throws IOException {
        List<String> out = new ArrayList<>();
        Set<String> keptTaps = new HashSet<>();
        Map<String, String> ipOwner = new HashMap<>();
        Map<String, String> macOwner = new HashMap<>();
        Set<String> keptIps = new HashSet<>();
        for (JsonNode lease : leases()) {
            String id = lease.path("task_id").asText();
            if (!keep.contains(id)) {
                out.add("lease " + lease);
            } else {
                keptTaps.add(TapNames.forDevice(id, lease.path("device").asText()));
                keptIps.add(lease.path("ip").asText());
            }
            String ipTwice = ipOwner.put(lease.path("ip").asText(), id);
            if (ipTwice != null) {
                out.add("address " + lease.path("ip").asText() + " leased twice: " + ipTwice + " and " + id);
            }
            String macTwice = macOwner.put(lease.path("mac").asText(), id);
            if (macTwice != null) {
                out.add("MAC " + lease.path("mac").asText() + " leased twice: " + macTwice + " and " + id);
            }
        }
        for (String tap : tunDevices()) {
            if (TapNames.isOurs(tap) && !keptTaps.contains(tap)) {
                out.add("tap " + tap);
            }
        }
        for (MapForward forward : forwards()) {
            if (!keptIps.contains(forward.guestIp())) {
                out.add("forward " + forward.map() + " " + forward.element());
            }
        }
        for (String comment : commentsIn(ns.run("iptables-save"))) {
            if (!comment.equals("mirage:pool") && !keep.contains(comment.substring("mirage:".length()))) {
                out.add("rule comment " + comment);
            }
        }
        return out;
    }

    /** A condition that may throw, for {@link #awaitCondition}. */
    private interface Check {
        boolean holds() throws Exception;
    }

    /** Polls {@code condition} until it holds; fails after {@code timeout} naming {@code what} with {@code detail}. */
    private static void awaitCondition(String what, Duration timeout, Check condition, Supplier<String> detail)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() > deadline) {
                fail("timed out after " + timeout.toSeconds() + " s waiting for " + what + "\n" + detail.get());
            }
            Thread.sleep(50);
        }
    }

    /** The plugin's JVM: the one java process in the plugin's namespace. */
    private long pluginPid() throws IOException {
        List<Long> javas = new ArrayList<>();
        for (long pid : ns.pids()) {
            try {
                if (Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "exe")).getFileName().toString()
                        .equals("java")) {
                    javas.add(pid);
                }
            } catch (IOException gone) {
                // exited meanwhile
            }
        }
        assertEquals(1, javas.size(), "java processes in the plugin's namespace: " + javas);
        return javas.getFirst();
    }

    /** The plugin's threads (jcmd Thread.print from the JDK running the tests). */
    private static String threadDump(long pid) {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        try {
            CommandResult dump = new ProcessCommandRunner().run(List.of(jcmd.toString(), Long.toString(pid),
                    "Thread.print"), Duration.ofSeconds(30));
            assertTrue(dump.succeeded(), dump.summary());
            return dump.stdout();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** True when the plugin's "reconcile" thread waits in TaskManager.reconcile for the starts' lock. */
    private static boolean reconcileWaitsForStarts(long pid) {
        for (String thread : threadDump(pid).split("\n\\s*\n")) {
            if (thread.startsWith("\"reconcile\"")) {
                return thread.contains("nomadmirage.driver.TaskManager.reconcile(")
                        && thread.contains("ReentrantReadWriteLock$WriteLock.lock(");
            }
        }
        return false;
    }

    private static int indexOf(List<String> lines, String text) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains(text)) {
                return i;
            }
        }
        return -1;
    }

    private static void awaitNoProcessesUnder(Path dir, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!TaskScript.processesMentioning(dir.toString()).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
    }
}
