package nomadmirage.it;

import static nomadmirage.testing.NomadAgent.clientStatus;
import static nomadmirage.testing.NomadAgent.describe;
import static nomadmirage.testing.NomadAgent.events;
import static nomadmirage.testing.NomadAgent.taskRunning;
import static nomadmirage.testing.NomadAgent.terminal;
import static nomadmirage.testing.TestEnv.image;
import static nomadmirage.testing.TestEnv.job;
import static nomadmirage.testing.Unchecked.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nomadmirage.network.MapForward;
import nomadmirage.testing.Forwards;
import nomadmirage.testing.NomadAgent;
import nomadmirage.testing.NomadAgent.Mode;
import nomadmirage.testing.NomadAgent.Result;
import nomadmirage.testing.NomadAgent.RunDir;
import nomadmirage.testing.TestEnv;
import nomadmirage.testing.UdpEchoClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin's networking under a real Nomad agent (scripts/dev-agent.sh, plugin-config/test.hcl): a
 * networked stand-in unikernel (standin-hello-net.hvt, one NET_BASIC device "service") that answers
 * ARP, ICMP echo and UDP echo on port 7. Everything here — bridge, taps, iptables rules, pings and
 * datagrams — happens inside the agent's own network namespace ({@link NomadAgent#exec}).
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class NomadNetworkIT {
    private static final Duration SHORT = Duration.ofSeconds(30);
    private static final Duration REACH = Duration.ofSeconds(15);
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String ECHO_JOB = "net-echo";
    private static final String ECHO_TASK = "echo";
    private static final String BRIDGE_JOB = "net-bridge";
    private static final String BRIDGE = "mirage0";
    private static final Pattern ATTACHED = Pattern.compile(
            "service -> tap (\\S+), mac (\\S+), ip (\\d+\\.\\d+\\.\\d+\\.\\d+)/(\\d+), ports \\[echo (\\d+)->7\\]");
    private static final Pattern LINK_NAME = Pattern.compile("^\\d+:\\s+([^:@\\s]+)");

    @RegisterExtension
    static final NomadAgent.Agents AGENTS = new NomadAgent.Agents();

    /** The agent of all tests but the CNI one: no CNI plugins (Nomad's cni_path /opt/cni/bin is absent). */
    private static NomadAgent shared;

    @TempDir
    Path tmp;

    @TempDir
    static Path classTmp;

    @BeforeAll
    static void startSharedAgent() throws Exception {
        // No user and no default_user: the echo task runs as a uid of its own, and its tender opens
        // its tap through a private /dev/net/tun although the host's is 0600 root here.
        shared = AGENTS.start(Mode.DEV);
    }

    /** Each test leaves the shared agent without jobs and networked tasks, whatever happened. */
    @AfterEach
    void purgeJobs() throws Exception {
        if (shared == null) {
            return;
        }
        for (String job : List.of(ECHO_JOB, BRIDGE_JOB)) {
            shared.tryNomad("job", "stop", "-purge", "-detach", job);
        }
        NomadAgent.await("no mirage tap left after the test", SHORT, () -> mirageTaps(shared).isEmpty(),
                () -> "links: " + quietly(() -> shared.execOk("ip", "-o", "link")));
    }

    // --- 1. a networked service ----------------------------------------------------------------

    @Test
    void aServiceIsReachableThroughItsPortRegistersTheUnikernelAddressAndLeavesNothingBehind()
            throws Exception {
        Echo echo = startEcho();

        // A datagram to the host port, sent from the host (its namespace) itself, comes back from
        // port 7 of the unikernel: DNAT by the nft map element in the nat output hook.
        assertEquals("127.0.0.1", echo.hostIp(),
                "the agent's network_interface is lo, so Nomad binds the port to 127.0.0.1");
        String reply = udpEcho("127.0.0.1", echo.hostPort(), "hello mirage " + echo.allocId());
        assertEquals("hello mirage " + echo.allocId(), reply);

        NomadAgent.await("ping " + echo.ip(), REACH, () -> quietly(() -> shared.exec("ping", "-c1", "-W2",
                echo.ip())).ok());

        // address_mode = "driver": the service has the unikernel's address and port, not the host's.
        JsonNode[] service = new JsonNode[1];
        NomadAgent.await("the service \"echo\" of " + echo.allocId(), SHORT, () -> {
            service[0] = serviceOf(echo.allocId());
            return service[0] != null;
        }, () -> quietly(() -> shared.tryNomad("service", "info", "-json", "echo").toString()));
        assertEquals(echo.ip(), service[0].path("Address").asText(), service[0].toString());
        assertEquals(7, service[0].path("Port").asInt(), service[0].toString());

        // The host side: the task's forwards (TCP and UDP elements of the nft maps, on the address Nomad
        // bound the port to), no per-task iptables rule, its tap on the bridge, its lease.
        assertEquals(Set.copyOf(Forwards.of(echo.hostIp(), echo.hostPort(), echo.ip(), 7)),
                Set.copyOf(Forwards.in(shared.netns())), "the node's forwards are the task's two");
        String rules = shared.execOk("iptables-save");
        assertEquals(List.of(), taskRules(rules, echo.taskId()), "a forward is a map element, not a rule:\n" + rules);
        String onBridge = shared.execOk("ip", "-o", "link", "show", "master", BRIDGE);
        assertEquals(List.of(echo.tap()), linkNames(onBridge), "links on " + BRIDGE + ":\n" + onBridge);
        assertEquals(List.of(echo.ip()), leases(shared).stream().map(l -> l.path("ip").asText()).toList());

        RunDir runDir = shared.runDir(echo.allocId(), ECHO_TASK)
                .orElseThrow(() -> new AssertionError("no run directory for " + echo.allocId()));
        long tender = runDir.tenderPid();
        long ticks = runDir.tenderStartTicks();
        assertTrue(NomadAgent.processAlive(tender, ticks), "tender " + tender + " not running");

        // Stop the job: the allocation ends, the driver destroys the task and releases its network.
        shared.nomad("job", "stop", "-detach", ECHO_JOB);
        JsonNode stopped = shared.awaitAllocStatus(ECHO_JOB,
                a -> a.path("ID").asText().equals(echo.allocId()) && terminal().test(a), SHORT);
        assertEquals("complete", clientStatus(stopped), describe(stopped));
        shared.nomad("system", "gc");
        NomadAgent.await("the driver to release the task's network", SHORT, () -> quietly(() ->
                        mirageTaps(shared).isEmpty()
                        && Forwards.in(shared.netns()).isEmpty()
                        && taskRules(shared.execOk("iptables-save"), echo.taskId()).isEmpty()
                        && leases(shared).isEmpty()
                        && !NomadAgent.processAlive(tender, ticks)
                        && shared.runDir(echo.allocId(), ECHO_TASK).isEmpty()),
                () -> quietly(() -> "taps: " + mirageTaps(shared) + "\nforwards: " + Forwards.in(shared.netns())
                        + "\ntask rules: " + taskRules(shared.execOk("iptables-save"), echo.taskId())
                        + "\nleases: " + leases(shared)
                        + "\ntender alive: " + NomadAgent.processAlive(tender, ticks)
                        + "\nrun dir: " + shared.runDir(echo.allocId(), ECHO_TASK)));
        NomadAgent.await("the service \"echo\" of " + echo.allocId() + " to be deregistered", SHORT,
                () -> serviceOf(echo.allocId()) == null);
        String after = shared.execOk("iptables-save");
        assertFalse(after.contains("mirage:" + echo.allocId()), "a rule of the allocation is left:\n" + after);
    }

    // --- 2. bridge networking -------------------------------------------------------------------------

    /**
     * Without CNI plugins: Nomad v1.6.3 puts no implicit constraint on CNI plugins on a bridge-mode
     * group (later versions do), so the group is placed on this node, and the allocation fails in the
     * client's network set-up, which finds no CNI plugin — before the driver is asked for anything.
     * (With Debian's CNI plugins bridge mode works: NomadGroupNetworkIT.)
     */
    @Test
    void bridgeModeWithoutCniPluginsFailsInNomadsNetworkSetUpBeforeTheDriver() throws Exception {
        assertTrue(shared.selfNode().path("Attributes").path("plugins.cni.version.bridge").isMissingNode(),
                "this node has CNI plugins");
        shared.runJob(job("net-bridge.nomad.hcl"), Map.of("image", image("standin-hello-net.hvt")));
        assertFailedBeforeTheDriver(shared, "failed to find plugin");
    }

    /**
     * With CNI "plugins" that only print a version (fingerprinted, so the node looks ready) the
     * allocation fails in Nomad's network set-up too, before the driver is asked to start anything: no
     * tap, no lease, not even the bridge.
     */
    @Test
    void bridgeModeWithBrokenCniPluginsFailsBeforeTheDriver() throws Exception {
        Path cni = Files.createDirectories(tmp.resolve("cni"));
        for (String plugin : List.of("bridge", "firewall", "host-local", "loopback", "portmap")) {
            // Nomad's CNI fingerprint runs each executable without arguments and takes the first
            // semantic version it prints, as the containernetworking plugins answer.
            Path file = cni.resolve(plugin);
            Files.writeString(file, "#!/bin/sh\necho \"CNI " + plugin + " plugin v1.6.2\"\n", StandardCharsets.UTF_8);
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Path config = tmp.resolve("test-cni.hcl");
        Files.writeString(config, Files.readString(TestEnv.repo().resolve("plugin-config/test.hcl"))
                + "\nclient {\n  cni_path = \"" + cni + "\"\n}\n", StandardCharsets.UTF_8);
        NomadAgent agent = AGENTS.start(Mode.DEV, config);
        assertEquals("v1.6.2", agent.selfNode().path("Attributes").path("plugins.cni.version.bridge").asText(),
                "the stand-in CNI plugins were not fingerprinted");

        agent.runJob(job("net-bridge.nomad.hcl"), Map.of("image", image("standin-hello-net.hvt")));
        assertFailedBeforeTheDriver(agent, "failed to configure networking for alloc");
        assertFalse(agent.exec("ip", "link", "show", BRIDGE).ok(), "the bridge was set up for a failed task");
    }

    private static void assertFailedBeforeTheDriver(NomadAgent agent, String setupFailure) throws Exception {
        JsonNode alloc = agent.alloc(agent.awaitAllocStatus(BRIDGE_JOB, terminal(), SHORT).path("ID").asText());
        String detail = describe(alloc) + "client description: " + alloc.path("ClientDescription").asText();

        assertEquals("failed", clientStatus(alloc), detail);
        assertTrue(events(alloc, "echo", "Setup Failure").stream()
                .anyMatch(e -> e.toString().contains(setupFailure)), detail);
        assertTrue(events(alloc, "echo", "Driver").isEmpty(), "the driver was asked to start the task: " + detail);
        assertTrue(events(alloc, "echo", "Started").isEmpty(), detail);

        assertTrue(mirageTaps(agent).isEmpty(), "a tap was created: " + mirageTaps(agent));
        assertTrue(leases(agent).isEmpty(), "a lease was taken: " + leases(agent));
        agent.tryNomad("job", "stop", "-purge", "-detach", BRIDGE_JOB);
    }

    // --- 3. the status command ----------------------------------------------------------------------------

    @Test
    void theStatusCommandListsTheRunningTaskWithItsTapAddressAndPortForward() throws Exception {
        Echo echo = startEcho();
        long tender = shared.runDir(echo.allocId(), ECHO_TASK)
                .orElseThrow(() -> new AssertionError("no run directory for " + echo.allocId())).tenderPid();

        Result result = shared.exec(TestEnv.launcher().toString(), "status", "--state-dir",
                shared.dir().resolve("mirage-state").toString());

        assertEquals(0, result.exitCode(), result.toString());
        String out = result.stdout();
        assertTrue(out.contains("tasks: 1\n"), out);
        assertTrue(out.contains("- " + echo.taskId() + "  (solo5-hvt, running, pid " + tender + ")"), out);
        assertTrue(out.contains("service: tap " + echo.tap() + "  mac " + echo.mac() + "  ip " + echo.ip() + "/16"
                + "  gateway 10.99.0.1"), out);
        assertTrue(out.contains("port echo: " + echo.hostIp() + ":" + echo.hostPort() + " -> " + echo.ip()
                + ":7 (tcp, udp)"), out);
        for (MapForward forward : Forwards.of(echo.hostIp(), echo.hostPort(), echo.ip(), 7)) {
            assertTrue(out.lines().anyMatch(l -> l.strip().equals("rule " + Forwards.described(forward))),
                    "status shows the forward " + forward.element() + ":\n" + out);
        }
        assertFalse(out.contains("mirage:" + echo.taskId()), "a per-task rule in the status:\n" + out);
        assertTrue(out.contains("orphans: none"), out);
    }

    // --- helpers ------------------------------------------------------------------------------------------

    /** The running echo task as the plugin set it up. */
    private record Echo(String allocId, String taskId, String hostIp, int hostPort, String ip, String mac,
            String tap) {
    }

    /**
     * Runs net-echo and waits for its task; cross-checks what Nomad allocated (the port), what the
     * driver reported (its "Attached devices" event) and the plugin's lease.
     */
    private static Echo startEcho() throws Exception {
        shared.runJob(job("net-echo.nomad.hcl"), Map.of("image", image("standin-hello-net.hvt")));
        String allocId = shared.awaitAllocStatus(ECHO_JOB, taskRunning(ECHO_TASK), SHORT).path("ID").asText();
        JsonNode alloc = shared.alloc(allocId);
        String detail = describe(alloc);

        JsonNode port = null;
        for (JsonNode p : alloc.path("AllocatedResources").path("Shared").path("Ports")) {
            if (p.path("Label").asText().equals("echo")) {
                port = p;
            }
        }
        assertTrue(port != null, "no port \"echo\" allocated: " + alloc.path("AllocatedResources"));
        assertEquals(7, port.path("To").asInt(), port.toString());
        int hostPort = port.path("Value").asInt();
        assertTrue(hostPort > 0, port.toString());

        Matcher attached = events(alloc, ECHO_TASK, "Driver").stream()
                .map(e -> ATTACHED.matcher(e.path("DisplayMessage").asText())).filter(Matcher::find).findFirst()
                .orElseThrow(() -> new AssertionError("no \"Attached devices\" event:\n" + detail));
        String tap = attached.group(1);
        String mac = attached.group(2);
        String ip = attached.group(3);
        assertEquals("16", attached.group(4), detail);
        assertEquals(hostPort, Integer.parseInt(attached.group(5)), detail);
        assertTrue(ip.startsWith("10.99.") && !ip.equals("10.99.0.1"), "address outside the pool: " + ip);
        assertTrue(tap.startsWith("mg") && tap.length() <= 15, "tap name: " + tap);

        List<JsonNode> leases = leases(shared);
        assertEquals(1, leases.size(), "leases: " + leases);
        JsonNode lease = leases.get(0);
        String taskId = lease.path("task_id").asText();
        assertTrue(taskId.startsWith(allocId + "/" + ECHO_TASK + "/"), "lease of another task: " + lease);
        assertEquals("service", lease.path("device").asText(), lease.toString());
        assertEquals(ip, lease.path("ip").asText(), lease.toString());
        assertEquals(mac, lease.path("mac").asText(), lease.toString());
        return new Echo(allocId, taskId, port.path("HostIP").asText(), hostPort, ip, mac, tap);
    }

    /**
     * Sends a datagram from inside the agent's namespace and returns the reply; retries (every 500 ms,
     * for at most {@link #REACH}) while the unikernel does not answer yet.
     */
    private static String udpEcho(String host, int port, String payload) throws Exception {
        Result result = shared.exec(UdpEchoClient.argv(host, port, payload, REACH));
        assertEquals(0, result.exitCode(), "UDP echo through " + host + ":" + port + " failed: " + result);
        return result.stdout();
    }

    /** The registration of service "echo" belonging to the allocation, or null. */
    private static JsonNode serviceOf(String allocId) {
        Result result = quietly(() -> shared.tryNomad("service", "info", "-json", "echo"));
        if (!result.ok() || result.stdout().strip().equals("No service registrations found")) {
            // Nomad v1.6.3 answers a service with no registration with that line and exit 0.
            return null;
        }
        try {
            for (JsonNode registration : JSON.readTree(result.stdout())) {
                if (registration.path("AllocID").asText().equals(allocId)) {
                    return registration;
                }
            }
        } catch (IOException e) {
            throw new AssertionError("nomad service info printed no JSON: " + result, e);
        }
        return null;
    }

    /** iptables-save lines carrying the task's comment (only plugins before the nft maps wrote such rules). */
    private static List<String> taskRules(String iptablesSave, String taskId) {
        String comment = "--comment \"mirage:" + taskId + "\"";
        return iptablesSave.lines().filter(l -> l.contains(comment)).toList();
    }

    /** Names of the links with the driver's tap prefix "mg" in the agent's namespace. */
    private static List<String> mirageTaps(NomadAgent agent) {
        String links = quietly(() -> agent.execOk("ip", "-o", "link"));
        return linkNames(links).stream().filter(n -> n.startsWith("mg")).toList();
    }

    private static List<String> linkNames(String ipOLink) {
        List<String> names = new ArrayList<>();
        for (String line : ipOLink.lines().toList()) {
            Matcher m = LINK_NAME.matcher(line);
            if (m.find()) {
                names.add(m.group(1));
            }
        }
        return names;
    }

    /** The leases in state_dir/network (snapshot and journal; none if no networked task ran). */
    private static List<JsonNode> leases(NomadAgent agent) {
        List<JsonNode> leases = new ArrayList<>();
        try {
            JSON.valueToTree(nomadmirage.network.Ipam.stored(new nomadmirage.state.StateDirectory(
                    agent.dir().resolve("mirage-state")))).forEach(leases::add);
        } catch (nomadmirage.network.NetworkSetupException e) {
            throw new IllegalStateException(e);
        }
        return leases;
    }
}
