package nomadmirage.it;

import static nomadmirage.testing.NomadAgent.describe;
import static nomadmirage.testing.NomadAgent.taskRunning;
import static nomadmirage.testing.TestEnv.job;
import static nomadmirage.testing.Unchecked.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
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
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The test bed for group {@code network { mode = "bridge" }}, without the mirage driver: a real Nomad
 * v1.6.3 agent without the plugin (scripts/dev-agent.sh {@code --no-plugin --cni-path /usr/lib/cni --lab
 * 198.51.100.1/24}, see {@link GroupNetworking}) runs {@code group-bridge-echo.nomad.hcl}, a raw_exec
 * UDP echo server on port 7 with the group port "echo" (to = 7). Nomad creates the allocation's network
 * namespace, Debian's CNI plugins wire it to the bridge {@code nomad} and map the host port to it.
 *
 * <p>All networking happens in the agent's namespace, the allocation's, and a peer namespace
 * ({@code mgtest-…}) joined to the agent's lab bridge by a veth pair. CNI's host-local IPAM keeps its
 * state on the host filesystem (/var/lib/cni); the test removes only what its allocation left there,
 * and the directories it created if they hold nothing else.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class GroupBridgeBaselineIT {
    private static final Duration SHORT = Duration.ofSeconds(30);
    private static final Duration REACH = Duration.ofSeconds(15);
    private static final String JOB = "group-bridge-echo";
    private static final String TASK = "echo";
    private static final String PEER_CIDR = "198.51.100.2/24";
    private static final String PEER_IF = "mgpeer0";
    private static final List<String> CNI_PLUGINS = List.of("bridge", "firewall", "host-local", "loopback", "portmap");
    private static final Path CNI_STATE = Path.of("/var/lib/cni");
    private static final Path CNI_LEASES = CNI_STATE.resolve("networks/nomad");
    private static final Path CNI_RESULTS = CNI_STATE.resolve("results");
    private static final Pattern VETH_PEER = Pattern.compile("^\\d+:\\s+eth0@if(\\d+):");
    private static final Pattern LINK = Pattern.compile("^(\\d+):\\s+([^:@\\s]+)");
    private static final Pattern JUMP = Pattern.compile("-j (CNI-[A-Za-z0-9-]+)");

    @RegisterExtension
    static final NomadAgent.Agents AGENTS = new NomadAgent.Agents();

    @Test
    void aRawExecTaskGetsTheAllocationsNamespaceItsPortIsReachableAndStopLeavesNothingBehind() throws Exception {
        GroupNetworking network = GroupNetworking.debian();
        TestEnv.requireRoot("the group networking test needs root (network namespaces, Nomad client)");
        for (String plugin : CNI_PLUGINS) {
            TestEnv.require(Files.isExecutable(network.cniPath().resolve(plugin)),
                    "CNI plugin " + plugin + " in " + network.cniPath()
                            + " (scripts/setup-machine.sh installs containernetworking-plugins)");
        }
        List<Path> cniBefore = cniHostState();
        NomadAgent agent = AGENTS.startWithoutPlugin(Mode.DEV, network);
        String allocId = null;
        boolean purged = false;
        try {
            JsonNode node = agent.selfNode();
            assertFalse(node.path("Attributes").path("plugins.cni.version.bridge").isMissingNode(),
                    "the CNI plugins in " + network.cniPath() + " were not fingerprinted");
            assertEquals(network.nodeAddress(), node.path("Attributes").path("unique.network.ip-address").asText(),
                    "the node's address is not the lab bridge's");

            agent.runJob(job("group-bridge-echo.nomad.hcl"), Map.of());
            allocId = agent.awaitAllocStatus(JOB, taskRunning(TASK), SHORT).path("ID").asText();
            String alloc = allocId;
            JsonNode full = agent.alloc(alloc);
            String detail = describe(full);

            // What Nomad allocated: the host port on the node's address, mapped to port 7 of the alloc.
            JsonNode port = null;
            for (JsonNode p : full.path("AllocatedResources").path("Shared").path("Ports")) {
                if (p.path("Label").asText().equals("echo")) {
                    port = p;
                }
            }
            assertNotNull(port, "no port \"echo\" allocated: " + full.path("AllocatedResources"));
            assertEquals(7, port.path("To").asInt(), port.toString());
            assertEquals(network.nodeAddress(), port.path("HostIP").asText(), port.toString());
            int hostPort = port.path("Value").asInt();
            assertTrue(hostPort > 0, port.toString());
            String allocIp = full.path("NetworkStatus").path("Address").asText();
            assertEquals("eth0", full.path("NetworkStatus").path("InterfaceName").asText(), detail);
            assertTrue(allocIp.startsWith("172.26."), "alloc address outside Nomad's bridge subnet: " + allocIp);

            // The task's process (the echo server writes its pid once bound) is in the namespace Nomad
            // created at /var/run/netns/ALLOC, not in the agent's.
            Path pidFile = agent.dir().resolve("data/alloc").resolve(alloc).resolve(TASK).resolve("local/echo.pid");
            NomadAgent.await("the echo server's pid file " + pidFile, SHORT, () -> Files.exists(pidFile),
                    () -> quietly(() -> agent.logs(alloc, TASK) + "\n" + describe(agent.alloc(alloc))));
            long pid = Long.parseLong(Files.readString(pidFile).strip());
            assertTrue(NomadAgent.cmdline(pid).contains("echo.pid"), "pid " + pid + " is not the echo server: "
                    + NomadAgent.cmdline(pid));
            Path allocNs = Path.of("/var/run/netns", alloc);
            assertTrue(Files.exists(allocNs), "no " + allocNs);
            String taskNet = netnsOf(pid);
            String agentNet = netnsOf(agent.agentPid());
            assertNotEquals(agentNet, taskNet, "the task runs in the agent's network namespace");
            assertEquals("net:[" + Files.getAttribute(allocNs, "unix:ino") + "]", taskNet,
                    "the task's network namespace is not the one at " + allocNs);
            assertEquals("net:[" + Files.getAttribute(Path.of("/run/netns", agent.netns()), "unix:ino") + "]",
                    agentNet, "the agent is not in its namespace " + agent.netns());

            // CNI's pieces of the allocation in the agent's namespace and on the host filesystem.
            String veth = hostVeth(agent, alloc);
            String rules = agent.execOk("iptables-save");
            Set<String> chains = allocChains(rules, alloc);
            assertTrue(chains.stream().anyMatch(c -> c.startsWith("CNI-DN-"))
                    && chains.stream().anyMatch(c -> !c.startsWith("CNI-DN-")),
                    "no portmap DNAT chain and bridge masquerade chain for the alloc: " + chains + "\n" + rules);
            Path lease = CNI_LEASES.resolve(allocIp);
            assertTrue(Files.exists(lease) && Files.readString(lease).startsWith(alloc),
                    "no host-local lease " + lease + " for the alloc");

            // A datagram from another namespace to the node's address and host port comes back from
            // the task; so does one sent inside the agent's namespace to 127.0.0.1:<host port>.
            try (Netns peer = Netns.create()) {
                String labPort = "lab-" + peer.name().substring(peer.name().length() - 6);
                agent.joinLab(peer.name(), PEER_IF, PEER_CIDR, labPort);
                String payload = "from " + peer.name() + " to " + alloc;
                CommandResult fromPeer = peer.exec(UdpEchoClient.argv(network.nodeAddress(), hostPort, payload, REACH));
                assertTrue(fromPeer.succeeded(), "UDP echo from " + peer.name() + " to " + network.nodeAddress()
                        + ":" + hostPort + " failed: " + fromPeer.summary());
                assertEquals(payload, fromPeer.stdout());
            }
            String payload = "from the agent's namespace to " + alloc;
            Result fromAgent = agent.exec(UdpEchoClient.argv("127.0.0.1", hostPort, payload, REACH));
            assertEquals(0, fromAgent.exitCode(), "UDP echo to 127.0.0.1:" + hostPort + " failed: " + fromAgent);
            assertEquals(payload, fromAgent.stdout());

            // Stop and purge: Nomad tears CNI down (veth, chains, lease) and removes the namespace.
            agent.nomad("job", "stop", "-purge", "-detach", JOB);
            purged = true;
            NomadAgent.await("the allocation's namespace and CNI state to be gone", SHORT,
                    () -> quietly(() -> leftovers(agent, alloc, pid, veth, chains, lease).isEmpty()),
                    () -> quietly(() -> String.join("\n", leftovers(agent, alloc, pid, veth, chains, lease))));
        } finally {
            cleanUp(agent, allocId, purged, cniBefore);
        }
    }

    // --- helpers ------------------------------------------------------------------------------------

    /** What is left of the allocation's network (empty once all is gone), one line per piece. */
    private static List<String> leftovers(NomadAgent agent, String alloc, long pid, String veth, Set<String> chains,
            Path lease) throws IOException, InterruptedException {
        List<String> left = new ArrayList<>();
        if (NomadAgent.processAlive(pid, -1)) {
            left.add("the echo server (pid " + pid + ") runs");
        }
        Path allocNs = Path.of("/var/run/netns", alloc);
        if (Files.exists(allocNs)) {
            left.add(allocNs + " exists");
        }
        if (linkNames(agent.execOk("ip", "-o", "link")).containsValue(veth)) {
            left.add("veth " + veth + " exists in " + agent.netns());
        }
        String rules = agent.execOk("iptables-save");
        rules.lines().filter(l -> l.contains(alloc)).forEach(l -> left.add("rule: " + l));
        for (String chain : chains) {
            if (rules.lines().anyMatch(l -> l.startsWith(":" + chain + " "))) {
                left.add("chain " + chain + " exists");
            }
        }
        if (Files.exists(lease)) {
            left.add("lease " + lease + " exists");
        }
        for (Path result : resultFiles(alloc)) {
            left.add("CNI result cache " + result + " exists");
        }
        return left;
    }

    /** The agent-side veth of the alloc's eth0: the link in the agent's namespace eth0 is paired with. */
    private static String hostVeth(NomadAgent agent, String alloc) throws IOException, InterruptedException {
        Result eth0 = NomadAgent.run(List.of("ip", "-n", alloc, "-o", "link", "show", "eth0"), SHORT);
        assertTrue(eth0.ok(), eth0.toString());
        Matcher peer = VETH_PEER.matcher(eth0.stdout());
        assertTrue(peer.find(), "eth0 of the alloc is no veth: " + eth0.stdout());
        String onBridge = agent.execOk("ip", "-o", "link", "show", "master", "nomad");
        String veth = linkNames(onBridge).get(Integer.parseInt(peer.group(1)));
        assertNotNull(veth, "the alloc's eth0 (peer index " + peer.group(1) + ") is not on the bridge nomad:\n"
                + onBridge);
        return veth;
    }

    /** ifindex → name of the links in `ip -o link` output. */
    private static Map<Integer, String> linkNames(String ipOLink) {
        Map<Integer, String> names = new java.util.HashMap<>();
        for (String line : ipOLink.lines().toList()) {
            Matcher m = LINK.matcher(line);
            if (m.find()) {
                names.put(Integer.parseInt(m.group(1)), m.group(2));
            }
        }
        return names;
    }

    /** The CNI chains the alloc's rules (those naming the alloc in their comment) jump to. */
    private static Set<String> allocChains(String iptablesSave, String alloc) {
        Set<String> chains = new TreeSet<>();
        iptablesSave.lines().filter(l -> l.contains(alloc)).forEach(l -> {
            Matcher m = JUMP.matcher(l);
            if (m.find()) {
                chains.add(m.group(1));
            }
        });
        return chains;
    }

    private static String netnsOf(long pid) throws IOException {
        return Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns/net")).toString();
    }

    private static List<Path> resultFiles(String alloc) throws IOException {
        List<Path> files = new ArrayList<>();
        if (Files.isDirectory(CNI_RESULTS)) {
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(CNI_RESULTS, "nomad-" + alloc + "-*")) {
                entries.forEach(files::add);
            }
        }
        return files;
    }

    /** The directories of CNI's host state and host-local's bookkeeping files of network "nomad" that exist. */
    private static List<Path> cniHostState() throws IOException {
        List<Path> present = new ArrayList<>();
        for (Path dir : List.of(CNI_STATE, CNI_STATE.resolve("networks"), CNI_LEASES, CNI_RESULTS)) {
            if (Files.isDirectory(dir)) {
                present.add(dir);
            }
        }
        present.addAll(bookkeeping());
        return present;
    }

    /** host-local's own files in the lease directory: its lock and last_reserved_ip.* (no lease). */
    private static List<Path> bookkeeping() throws IOException {
        if (!Files.isDirectory(CNI_LEASES)) {
            return List.of();
        }
        try (var list = Files.list(CNI_LEASES)) {
            return list.filter(p -> p.getFileName().toString().equals("lock")
                    || p.getFileName().toString().startsWith("last_reserved_ip.")).toList();
        }
    }

    /**
     * After the test, whatever happened: stops the job if the test did not (so that Nomad releases the
     * CNI state before the agent is stopped), then removes what the alloc left in /var/lib/cni (its
     * lease and result cache), and the bookkeeping files and directories there that did not exist before
     * — the bookkeeping files only while no lease is held, so another agent's IPAM state is never touched.
     */
    private static void cleanUp(NomadAgent agent, String alloc, boolean purged, List<Path> cniBefore)
            throws IOException, InterruptedException {
        if (alloc != null && !purged) {
            agent.tryNomad("job", "stop", "-purge", "-detach", JOB);
            Path allocNs = Path.of("/var/run/netns", alloc);
            try {
                NomadAgent.await("the allocation's namespace to be gone after the failed test", SHORT,
                        () -> !Files.exists(allocNs));
            } catch (AssertionError e) {
                System.err.println("GroupBridgeBaselineIT: " + e.getMessage());
            }
        }
        if (alloc != null) {
            if (Files.isDirectory(CNI_LEASES)) {
                try (DirectoryStream<Path> leases = Files.newDirectoryStream(CNI_LEASES)) {
                    for (Path lease : leases) {
                        if (Files.isRegularFile(lease)
                                && Files.readString(lease, StandardCharsets.UTF_8).startsWith(alloc)) {
                            Files.deleteIfExists(lease);
                        }
                    }
                }
            }
            for (Path result : resultFiles(alloc)) {
                Files.deleteIfExists(result);
            }
        }
        if (Files.isDirectory(CNI_LEASES)) {
            List<Path> entries;
            try (var list = Files.list(CNI_LEASES)) {
                entries = list.toList();
            }
            List<Path> bookkeeping = bookkeeping();
            if (bookkeeping.containsAll(entries)) {
                for (Path file : bookkeeping) {
                    if (!cniBefore.contains(file)) {
                        Files.deleteIfExists(file);
                    }
                }
            }
        }
        for (Path dir : List.of(CNI_LEASES, CNI_RESULTS, CNI_STATE.resolve("networks"), CNI_STATE)) {
            if (!cniBefore.contains(dir) && Files.isDirectory(dir)) {
                try (var list = Files.list(dir)) {
                    if (list.findAny().isEmpty()) {
                        Files.delete(dir);
                    }
                }
            }
        }
    }
}
