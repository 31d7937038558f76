package nomadmirage.it;

import static nomadmirage.testing.NomadAgent.describe;
import static nomadmirage.testing.NomadAgent.taskRunning;
import static nomadmirage.testing.TestEnv.image;
import static nomadmirage.testing.TestEnv.job;
import static nomadmirage.testing.Unchecked.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import nomadmirage.proc.CommandResult;
import nomadmirage.testing.Netns;
import nomadmirage.testing.NomadAgent;
import nomadmirage.testing.NomadAgent.GroupNetworking;
import nomadmirage.testing.NomadAgent.Mode;
import nomadmirage.testing.NomadAgent.Result;
import nomadmirage.testing.TestEnv;
import nomadmirage.testing.UdpEchoClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The mirage driver in Nomad's group {@code network { mode = "bridge" }} under a real Nomad v1.6.3 agent with
 * Debian's CNI plugins (scripts/dev-agent.sh {@code --cni-path /usr/lib/cni --lab 198.51.100.1/24}): the
 * stand-in hvt unikernel (UDP echo on port 7) next to a raw_exec task of the same group standing for a
 * Connect sidecar ({@code group-mirage.nomad.hcl}). Every traffic path is checked with real datagrams:
 * another namespace to the node's host port, the node's own 127.0.0.1 to the host port, the allocation's
 * address at {@code to} (address_mode = "alloc"), 127.0.0.1:{@code to} inside the allocation, and the
 * unikernel to a listener on 127.0.0.1 inside the allocation through its gateway. Nothing of the task is
 * made in the agent's namespace, and nothing is left anywhere after the job stops.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class NomadGroupNetworkIT {
    private static final Duration SHORT = Duration.ofSeconds(45);
    private static final String JOB = "group-mirage";
    private static final String TASK = "echo";
    private static final Duration REACH = Duration.ofSeconds(15);
    private static final String PEER_CIDR = "198.51.100.2/24";

    @RegisterExtension
    static final NomadAgent.Agents AGENTS = new NomadAgent.Agents();

    private static NomadAgent agent(GroupNetworking network) throws Exception {
        TestEnv.requireRoot("the group networking test needs root (network namespaces, Nomad client)");
        for (String plugin : List.of("bridge", "firewall", "host-local", "loopback", "portmap")) {
            TestEnv.require(Files.isExecutable(network.cniPath().resolve(plugin)), "CNI plugin " + plugin + " in "
                    + network.cniPath() + " (scripts/setup-machine.sh installs containernetworking-plugins)");
        }
        return AGENTS.start(Mode.DEV, TestEnv.repo().resolve("plugin-config/test.hcl"), TestEnv.launcher(), network);
    }

    /** solo5-hvt and solo5-spt (the stand-in tender in both roles). */
    @ParameterizedTest
    @ValueSource(strings = {"standin-hello-net.hvt", "standin-hello-net.spt"})
    void aUnikernelInBridgeModeIsReachableOnEveryPathAndLeavesNothingBehind(String unikernel) throws Exception {
        GroupNetworking network = GroupNetworking.debian();
        NomadAgent agent = agent(network);
        String allocId = null;
        try {
            agent.runJob(job("group-mirage.nomad.hcl"), Map.of("image", image(unikernel)));
            allocId = agent.awaitAllocStatus(JOB, taskRunning(TASK), SHORT).path("ID").asText();
            String alloc = allocId;
            JsonNode full = agent.alloc(alloc);
            String detail = describe(full);
            int hostPort = -1;
            for (JsonNode p : full.path("AllocatedResources").path("Shared").path("Ports")) {
                if (p.path("Label").asText().equals("echo")) {
                    hostPort = p.path("Value").asInt();
                }
            }
            assertTrue(hostPort > 0, detail);
            String allocIp = full.path("NetworkStatus").path("Address").asText();
            assertTrue(allocIp.startsWith("172.26."), detail);

            // The tender runs in the allocation's namespace; its tap and link are there and nowhere else.
            Path allocNs = Path.of("/var/run/netns", alloc);
            NomadAgent.RunDir run = agent.runDir(alloc, TASK)
                    .orElseThrow(() -> new AssertionError("no run directory for " + alloc));
            assertEquals("net:[" + Files.getAttribute(allocNs, "unix:ino") + "]",
                    Files.readSymbolicLink(Path.of("/proc", Long.toString(run.tenderPid()), "ns/net")).toString(),
                    "the tender is not in the allocation's namespace");
            String links = NomadAgent.run(List.of("ip", "-n", alloc, "-o", "-4", "addr", "show"), SHORT).stdout();
            assertTrue(links.contains("inet 169.254.1.1/30"), links);
            assertTrue(agent.execOk("ip", "-o", "link").lines().noneMatch(l -> l.matches("^\\d+:\\s+mg.*")),
                    "a mirage tap in the agent's namespace");
            // The host-mode network was never set up: no bridge, no forward maps, no pins.
            assertTrue(!agent.exec("ip", "link", "show", "mirage0").ok(), "the host bridge was set up");
            assertTrue(!agent.execOk("nft", "list", "tables").contains("nomad_mirage"), "our nft tables were set up");
            assertTrue(NomadAgent.events(full, TASK, "Started").size() == 1, detail);

            // The unikernel reached the "sidecar"'s listener on 127.0.0.1 through its gateway, and the sidecar
            // reached the unikernel at 127.0.0.1:7.
            Path shared = agent.dir().resolve("data/alloc").resolve(alloc).resolve("alloc");
            NomadAgent.await("the sidecar's results in " + shared, SHORT,
                    () -> Files.exists(shared.resolve("localhost.txt")),
                    () -> quietly(() -> agent.logs(alloc, TASK) + "\n" + agent.logs(alloc, "sidecar") + "\n"
                            + describe(agent.alloc(alloc))));
            assertEquals("169.254.1.2 hello-upstream", Files.readString(shared.resolve("upstream.txt")));
            assertEquals("127.0.0.1:7 hello-localhost", Files.readString(shared.resolve("localhost.txt")));

            // From another namespace to the node's address and host port; from the node to 127.0.0.1:<host port>
            // and to the allocation's address at `to` (what address_mode = "alloc" registers).
            try (Netns peer = Netns.create()) {
                agent.joinLab(peer.name(), "mgpeer0", PEER_CIDR, "lab-" + peer.name().substring(peer.name().length() - 6));
                CommandResult fromPeer = peer.exec(UdpEchoClient.argv(network.nodeAddress(), hostPort, "from-peer", REACH));
                assertTrue(fromPeer.succeeded(), fromPeer.summary());
                assertEquals("from-peer", fromPeer.stdout());
            }
            Result local = agent.exec(UdpEchoClient.argv("127.0.0.1", hostPort, "from-node", REACH));
            assertEquals(0, local.exitCode(), local.toString());
            assertEquals("from-node", local.stdout());
            Result toAlloc = agent.exec(UdpEchoClient.argv(allocIp, 7, "to-alloc-address", REACH));
            assertEquals(0, toAlloc.exitCode(), toAlloc.toString());
            assertEquals("to-alloc-address", toAlloc.stdout());
            JsonNode[] service = new JsonNode[1];
            NomadAgent.await("the service group-echo-alloc", SHORT, () -> quietly(() -> {
                Result info = agent.tryNomad("service", "info", "-json", "group-echo-alloc");
                if (info.exitCode() != 0) {
                    return false;
                }
                service[0] = new com.fasterxml.jackson.databind.ObjectMapper().readTree(info.stdout()).path(0);
                return !service[0].isMissingNode();
            }), () -> "no service");
            assertEquals(allocIp, service[0].path("Address").asText(), service[0].toString());
            assertEquals(7, service[0].path("Port").asInt(), service[0].toString());

            // A plugin killed and started again (as on an agent restart) recovers the task: its tender, tap and
            // forwards stay, and it still answers.
            long tender = run.tenderPid();
            long plugin = agent.pluginPid().orElseThrow(() -> new AssertionError("no plugin process found"));
            long logMark = agent.logSize();
            ProcessHandle.of(plugin).orElseThrow().destroyForcibly(); // SIGKILL
            agent.awaitNewPluginPid(plugin, SHORT);
            Pattern recovered = Pattern.compile("(task successfully recovered on driver|task recovered): .*"
                    + Pattern.quote(alloc));
            NomadAgent.await("the task of alloc " + alloc + " to be recovered", SHORT,
                    () -> quietly(() -> agent.logSince(logMark)).lines().anyMatch(l -> recovered.matcher(l).find()));
            assertTrue(NomadAgent.processAlive(tender, -1), "the tender did not survive the plugin's SIGKILL");
            Result again = agent.exec(UdpEchoClient.argv("127.0.0.1", hostPort, "after-plugin-restart", REACH));
            assertEquals(0, again.exitCode(), again.toString());
            assertEquals("after-plugin-restart", again.stdout());

            // Stop: the tender, the namespace and everything in it go; nothing was in the agent's namespace.
            agent.nomad("job", "stop", "-purge", "-detach", JOB);
            allocId = null;
            NomadAgent.await("the tender and the allocation's namespace to be gone", SHORT,
                    () -> !NomadAgent.processAlive(tender, -1) && !Files.exists(allocNs),
                    () -> "tender alive: " + NomadAgent.processAlive(tender, -1) + ", " + allocNs + " exists: "
                            + Files.exists(allocNs));
            NomadAgent.await("no run directory of the task", SHORT, () -> quietly(() -> agent.runDir(alloc, TASK).isEmpty()),
                    () -> "run dir left");
            assertTrue(leases(agent).isEmpty(), "a lease in group mode");
        } finally {
            if (allocId != null) {
                agent.tryNomad("job", "stop", "-purge", "-detach", JOB);
            }
        }
    }

    /**
     * qemu (virtio) in bridge mode: it opens the task's tap by name in the allocation's namespace (as the task's
     * own uid it could not make a tap), boots the kernel, which prints its command line with the link's
     * addresses, and exits 0; nothing is left.
     */
    @Test
    void qemuFindsItsTapInTheAllocationsNamespace() throws Exception {
        NomadAgent agent = agent(GroupNetworking.debian());
        agent.runJob(job("group-virtio.nomad.hcl"), Map.of("image", image("virtio-hello-net.virtio")));
        JsonNode alloc = agent.awaitAllocStatus("group-virtio", NomadAgent.terminal(), Duration.ofSeconds(90));
        String detail = describe(alloc);
        assertEquals("complete", NomadAgent.clientStatus(alloc), detail);
        assertTrue(NomadAgent.events(alloc, "hello", "Driver").stream().anyMatch(e -> e.path("DisplayMessage").asText()
                .contains("ip 169.254.1.2/30")), "the attached device is not on the private link: " + detail);
        String logs = agent.logs(alloc.path("ID").asText(), "hello");
        assertTrue(logs.contains("cmdline: --ipv4=169.254.1.2/30 --ipv4-gateway=169.254.1.1 --greeting=bridged"),
                "console:\n" + logs);
        String id = alloc.path("ID").asText();
        agent.nomad("job", "stop", "-purge", "-detach", "group-virtio");
        awaitNamespaceGone(agent, Path.of("/var/run/netns", id));
        assertTrue(agent.execOk("ip", "-o", "link").lines().noneMatch(l -> l.matches("^\\d+:\\s+mg.*")),
                "a mirage tap in the agent's namespace");
    }

    /**
     * With a persistent agent: an agent restart keeps the task (the same tender answers afterwards), and a
     * restart of the task inside its allocation gets a new tender on the same link (the destroyed run's tap
     * and rules went first); after the job stops nothing is left.
     */
    @Test
    void anAgentRestartKeepsTheTaskAndATaskRestartInsideTheAllocationWorks() throws Exception {
        GroupNetworking network = GroupNetworking.debian();
        TestEnv.requireRoot("the group networking test needs root (network namespaces, Nomad client)");
        TestEnv.require(Files.isExecutable(network.cniPath().resolve("bridge")), "CNI plugins in " + network.cniPath());
        NomadAgent agent = AGENTS.start(Mode.PERSISTENT, TestEnv.repo().resolve("plugin-config/test.hcl"),
                TestEnv.launcher(), network);
        String allocId = null;
        try {
            agent.runJob(job("group-mirage.nomad.hcl"), Map.of("image", image("standin-hello-net.hvt")));
            allocId = agent.awaitAllocStatus(JOB, taskRunning(TASK), SHORT).path("ID").asText();
            String alloc = allocId;
            int hostPort = hostPort(agent.alloc(alloc));
            NomadAgent.RunDir run = agent.runDir(alloc, TASK).orElseThrow();
            long tender = run.tenderPid();
            assertEquals("x", echoFromNode(agent, hostPort, "x"));

            long logMark = agent.logSize();
            agent.restart();
            Pattern recovered = Pattern.compile("(task successfully recovered on driver|task recovered): .*"
                    + Pattern.quote(alloc));
            NomadAgent.await("the task of alloc " + alloc + " to be recovered after the agent restart", SHORT,
                    () -> quietly(() -> agent.logSince(logMark)).lines().anyMatch(l -> recovered.matcher(l).find()));
            assertTrue(NomadAgent.processAlive(tender, -1), "the tender did not survive the agent restart");
            assertEquals("after-agent-restart", echoFromNode(agent, hostPort, "after-agent-restart"));

            agent.nomad("alloc", "restart", alloc, TASK);
            NomadAgent.await("a new tender for the restarted task", SHORT, () -> {
                try {
                    return agent.runDir(alloc, TASK).map(r -> r.tenderPid() != tender && r.tenderAlive()).orElse(false);
                } catch (IOException | java.io.UncheckedIOException e) {
                    return false; // the new run directory has no tender record yet
                }
            });
            assertEquals("after-task-restart", echoFromNode(agent, hostPort, "after-task-restart"));
            String addrs = NomadAgent.run(List.of("ip", "-n", alloc, "-o", "-4", "addr", "show"), SHORT).stdout();
            assertEquals(1, addrs.lines().filter(l -> l.contains("inet 169.254.")).count(),
                    "one link after the restart (the first run's tap went first): " + addrs);
            assertTrue(addrs.contains("inet 169.254.1.1/30"), addrs);

            agent.nomad("job", "stop", "-purge", "-detach", JOB);
            allocId = null;
            NomadAgent.await("the allocation's namespace to be gone", SHORT,
                    () -> !Files.exists(Path.of("/var/run/netns", alloc)));
        } finally {
            if (allocId != null) {
                agent.tryNomad("job", "stop", "-purge", "-detach", JOB);
            }
        }
    }

    /**
     * The periodic reconcile (every second here) runs while a group-mode task lives and leaves it alone: it is
     * no orphan although none of its objects is in the host's namespace.
     */
    @Test
    void aReconcileKeepsTheGroupModeTask(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        GroupNetworking network = GroupNetworking.debian();
        TestEnv.requireRoot("the group networking test needs root (network namespaces, Nomad client)");
        TestEnv.require(Files.isExecutable(network.cniPath().resolve("bridge")), "CNI plugins in " + network.cniPath());
        Path config = tmp.resolve("reconcile.hcl");
        String base = Files.readString(TestEnv.repo().resolve("plugin-config/test.hcl"));
        assertTrue(base.contains("fingerprint_period"), base);
        Files.writeString(config, base.replace("fingerprint_period", "reconcile_delay    = \"2s\"\n"
                + "    reconcile_interval = \"1s\"\n    fingerprint_period"));
        NomadAgent agent = AGENTS.start(Mode.DEV, config, TestEnv.launcher(), network);
        String allocId = null;
        try {
            agent.runJob(job("group-mirage.nomad.hcl"), Map.of("image", image("standin-hello-net.hvt")));
            allocId = agent.awaitAllocStatus(JOB, taskRunning(TASK), SHORT).path("ID").asText();
            String alloc = allocId;
            int hostPort = hostPort(agent.alloc(alloc));
            long tender = agent.runDir(alloc, TASK).orElseThrow().tenderPid();
            long logMark = agent.logSize();
            NomadAgent.await("two reconciles after the task started", SHORT, () -> quietly(() -> agent.logSince(logMark))
                    .lines().filter(l -> l.contains("reconcile done")).count() >= 2);
            assertTrue(NomadAgent.processAlive(tender, -1), "the reconcile ended the group-mode task's tender");
            String addrs = NomadAgent.run(List.of("ip", "-n", alloc, "-o", "-4", "addr", "show"), SHORT).stdout();
            assertTrue(addrs.contains("inet 169.254.1.1/30"), "the reconcile removed the task's link: " + addrs);
            assertEquals("after-reconcile", echoFromNode(agent, hostPort, "after-reconcile"));
        } finally {
            if (allocId != null) {
                agent.tryNomad("job", "stop", "-purge", "-detach", JOB);
            }
        }
    }

    private static int hostPort(JsonNode alloc) {
        for (JsonNode p : alloc.path("AllocatedResources").path("Shared").path("Ports")) {
            if (p.path("Label").asText().equals("echo")) {
                return p.path("Value").asInt();
            }
        }
        throw new AssertionError("no port echo: " + alloc.path("AllocatedResources"));
    }

    private static String echoFromNode(NomadAgent agent, int hostPort, String payload) throws Exception {
        Result result = agent.exec(UdpEchoClient.argv("127.0.0.1", hostPort, payload, REACH));
        assertEquals(0, result.exitCode(), result.toString());
        return result.stdout();
    }

    /**
     * Waits for Nomad to remove an allocation's namespace. Nomad v1.6.3 keeps a descriptor of every namespace it
     * makes open until its garbage collector happens to close it (CreateNetwork drops the handle NewNS opened),
     * and unmounts without MNT_DETACH: an allocation that ends within a second or so can find its own namespace
     * busy, and Nomad never retries ("failed to unmount NS: ... device or resource busy"). That case is told apart
     * from a holder of ours: no process but the agent may hold the namespace then. The test removes it itself,
     * as Nomad would have.
     */
    private static void awaitNamespaceGone(NomadAgent agent, Path ns) throws Exception {
        String refused = "failed to unmount NS: at " + ns + ": device or resource busy";
        NomadAgent.await("the allocation's namespace " + ns + " to be gone", SHORT,
                () -> !Files.exists(ns) || quietly(() -> agent.logSince(0)).contains(refused));
        if (!Files.exists(ns)) {
            return;
        }
        // A descriptor opened through the path reads back as the path (/var/run is a link to /run here); one
        // opened through /proc/PID/ns/net as net:[inode].
        java.util.Set<String> names = java.util.Set.of(ns.toString(), ns.toRealPath().toString(),
                "net:[" + Files.getAttribute(ns, "unix:ino") + "]");
        List<String> others = new ArrayList<>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path proc : (Iterable<Path>) procs::iterator) {
                String pid = proc.getFileName().toString();
                if (!pid.chars().allMatch(Character::isDigit) || Long.parseLong(pid) == agent.agentPid()) {
                    continue;
                }
                try (var fds = Files.list(proc.resolve("fd"))) {
                    for (Path fd : (Iterable<Path>) fds::iterator) {
                        if (names.contains(Files.readSymbolicLink(fd).toString())) {
                            others.add(pid + " " + Files.readString(proc.resolve("comm")).strip());
                        }
                    }
                } catch (IOException | java.io.UncheckedIOException gone) {
                    // ended, or closed a descriptor, while listed
                }
            }
        }
        assertEquals(List.of(), others, "Nomad could not unmount " + ns + ", and processes other than the agent hold it");
        System.err.println("NomadGroupNetworkIT: Nomad could not unmount " + ns + " (its own descriptor of it was "
                + "still open); no other process holds it; removing it as Nomad would have");
        CommandResult umount = new nomadmirage.proc.ProcessCommandRunner().run(List.of("umount", "-l", ns.toString()),
                Duration.ofSeconds(30));
        assertEquals(0, umount.exitCode(), umount.toString());
        Files.delete(ns);
    }

    private static List<Object> leases(NomadAgent agent) throws IOException {
        try {
            return List.copyOf(nomadmirage.network.Ipam.stored(new nomadmirage.state.StateDirectory(
                    agent.dir().resolve("mirage-state"))));
        } catch (nomadmirage.network.NetworkSetupException e) {
            throw new IOException(e.getMessage(), e);
        }
    }
}
