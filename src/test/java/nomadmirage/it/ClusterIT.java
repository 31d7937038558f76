package nomadmirage.it;

import static nomadmirage.testing.NomadAgent.clientStatus;
import static nomadmirage.testing.NomadAgent.describe;
import static nomadmirage.testing.NomadAgent.events;
import static nomadmirage.testing.NomadAgent.taskRunning;
import static nomadmirage.testing.TestEnv.image;
import static nomadmirage.testing.TestEnv.job;
import static nomadmirage.testing.Unchecked.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import nomadmirage.network.MapForward;
import nomadmirage.testing.Forwards;
import nomadmirage.testing.NomadAgent;
import nomadmirage.testing.UdpEchoClient;
import nomadmirage.testing.NomadAgent.Result;
import nomadmirage.testing.NomadCluster;
import nomadmirage.testing.NomadCluster.Node;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The driver in a real three-node Nomad v1.6.3 cluster ({@link NomadCluster}: a server and two clients,
 * each in a network namespace of its own, joined by a lab bridge on 192.168.77.0/24): a networked echo
 * service with {@code count = 4} and a spread over the nodes (cluster-echo.nomad.hcl) lands on both
 * clients; each client leases from its own pool (both use the default 10.99.0.0/16, so the same guest
 * address is leased on both); each allocation answers UDP echo on its node's lab address and host port
 * from the other client's namespace (over the lab bridge, DNAT on the receiving node); {@code nomad node
 * drain} moves the drained client's allocations to the other and leaves no tap, lease, task rule,
 * tender or run directory behind.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ClusterIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String JOB = "cluster-echo";
    private static final String TASK = "echo";
    private static final int COUNT = 4;
    private static final Duration PLACE = Duration.ofSeconds(60);
    private static final Duration SETTLE = Duration.ofSeconds(45);
    private static final Duration REACH = Duration.ofSeconds(15);
    private static final Pattern ATTACHED = Pattern.compile(
            "service -> tap (\\S+), mac (\\S+), ip (\\d+\\.\\d+\\.\\d+\\.\\d+)/(\\d+), ports \\[echo (\\d+)->7\\]");
    private static final Pattern LINK_NAME = Pattern.compile("^\\d+:\\s+([^:@\\s]+)");

    private NomadCluster cluster;

    /** A running allocation of the service as Nomad and the plugin see it. */
    private record Echo(String allocId, Node node, String hostIp, int hostPort, String guestIp, String tap,
            String taskId) {
        @Override
        public String toString() {
            return allocId.substring(0, 8) + " on " + node.nodeName() + " " + hostIp + ":" + hostPort + " -> "
                    + guestIp + ":7 (" + tap + ")";
        }
    }

    @AfterEach
    void stopCluster() throws Exception {
        if (cluster == null) {
            return;
        }
        List<String> namespaces = cluster.namespaces();
        Path root = cluster.root();
        // After a failure part-way: let the drivers destroy their tasks while the agents still run (the
        // teardown would otherwise only kill what is left in the namespaces). Best effort, bounded.
        if (cluster.server().running()) {
            cluster.tryNomad("job", "stop", "-purge", "-detach", JOB);
            try {
                NomadAgent.await("the clients to destroy their tasks before the teardown", SETTLE,
                        () -> cluster.clients().stream().allMatch(c -> quietly(() -> runDirs(c).isEmpty())));
            } catch (AssertionError e) {
                System.err.println("ClusterIT: " + e.getMessage());
            }
        }
        cluster.close();
        for (String ns : namespaces) {
            assertFalse(Files.exists(Path.of("/run/netns", ns)), "namespace " + ns + " left behind");
        }
        assertFalse(Files.exists(root), root + " left behind");
    }

    @Test
    void aServiceSpreadsOverTwoClientsAnswersAcrossNodesAndADrainMovesItLeavingNothingBehind() throws Throwable {
        long t0 = System.nanoTime();
        cluster = NomadCluster.start();
        System.err.printf("ClusterIT: cluster ready after %.1f s%n", (System.nanoTime() - t0) / 1e9);
        try {
            run();
        } catch (Throwable failure) {
            AssertionError withLogs = new AssertionError(failure.getMessage() + "\n" + cluster.logTails(), failure);
            withLogs.setStackTrace(failure.getStackTrace());
            throw withLogs;
        }
        System.err.printf("ClusterIT: scenario done after %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    private void run() throws Exception {
        Node c1 = cluster.clients().get(0);
        Node c2 = cluster.clients().get(1);
        String c1Id = cluster.nodeId(c1);
        String c2Id = cluster.nodeId(c2);

        // --- placement: the four allocations run, on both clients ---------------------------------------
        cluster.nomad("job", "run", "-detach", "-var", "image=" + image("standin-hello-net.hvt"),
                job("cluster-echo.nomad.hcl").toString());
        List<JsonNode> running = awaitRunning(COUNT, PLACE);
        List<Echo> echoes = new ArrayList<>();
        for (JsonNode stub : running) {
            echoes.add(echo(stub));
        }
        System.err.println("ClusterIT: placed " + echoes);
        Map<Node, List<Echo>> byNode = echoes.stream()
                .collect(Collectors.groupingBy(Echo::node, LinkedHashMap::new, Collectors.toList()));
        assertTrue(byNode.containsKey(c1) && byNode.containsKey(c2),
                "the spread left a client without allocations: " + echoes);

        // --- node-local pools ---------------------------------------------------------------------------
        for (Node node : cluster.clients()) {
            List<Echo> local = byNode.get(node);
            Node other = node == c1 ? c2 : c1;
            List<JsonNode> leases = leases(node);
            // Each task's lease is in its own client's state_dir, and only there.
            assertEquals(local.stream().map(Echo::taskId).sorted().toList(),
                    leases.stream().map(l -> l.path("task_id").asText()).sorted().toList(),
                    "leases in " + node.stateDir() + " are not those of the node's tasks " + local + ": " + leases);
            for (Echo echo : local) {
                assertTrue(leases.stream().anyMatch(l -> l.path("task_id").asText().equals(echo.taskId())
                        && l.path("ip").asText().equals(echo.guestIp())), "no lease of " + echo + ": " + leases);
                assertTrue(leases(other).stream().noneMatch(l -> l.path("task_id").asText().equals(echo.taskId())),
                        echo + " has a lease on " + other.nodeName());
            }
            // Each pool is allocated lowest-first and on its own: the node's first task has 10.99.0.2.
            assertTrue(local.stream().anyMatch(e -> e.guestIp().equals("10.99.0.2")),
                    "no task of " + node.nodeName() + " has the pool's first address 10.99.0.2: " + local);
            assertEquals(local.stream().map(Echo::tap).sorted().toList(), mirageTaps(node),
                    "taps in " + node.netns());
            // Each task's port is forwarded (TCP and UDP elements of the nft maps) on its own node only.
            assertEquals(forwardsOf(local), Set.copyOf(Forwards.in(node.netns())), "forwards in " + node.netns());
            assertEquals(List.of(), taskRules(node), "forwards are map elements, not per-task rules");
        }

        // --- address_mode = "driver": registrations carry the node-local guest addresses ----------------
        List<JsonNode> registrations = registrations();
        assertEquals(COUNT, registrations.size(), "service registrations: " + registrations);
        for (Echo echo : echoes) {
            JsonNode registration = registrations.stream()
                    .filter(r -> r.path("AllocID").asText().equals(echo.allocId())).findFirst()
                    .orElseThrow(() -> new AssertionError("no registration of " + echo + ": " + registrations));
            assertEquals(echo.guestIp(), registration.path("Address").asText(), registration.toString());
            assertEquals(7, registration.path("Port").asInt(), registration.toString());
        }
        Map<String, Set<String>> nodesByAddress = new LinkedHashMap<>();
        registrations.forEach(r -> nodesByAddress.computeIfAbsent(r.path("Address").asText(), a -> new HashSet<>())
                .add(r.path("NodeID").asText()));
        assertEquals(Set.of(c1Id, c2Id), nodesByAddress.get("10.99.0.2"),
                "10.99.0.2 should be registered from both nodes (node-local pools): " + registrations);
        // So a driver address means the node it is used on: from c1, c2's registered 10.99.0.2:7 is c1's
        // own bridge and its own unikernel with that address (which answers), never c2's.
        String route = c1.execOk("ip", "-o", "route", "get", "10.99.0.2");
        assertTrue(route.contains(" dev mirage0 "), "from c1, 10.99.0.2 is not on c1's own bridge: " + route);
        assertEquals("to c1's own 10.99.0.2", udpEcho(c1, "10.99.0.2", 7, "to c1's own 10.99.0.2"));

        // --- each allocation answers on its node's address and host port, from the other node ----------
        for (Echo echo : echoes) {
            Node other = echo.node() == c1 ? c2 : c1;
            assertEquals(echo.node().ip(), echo.hostIp(), "host port not on the node's lab address: " + echo);
            String payload = "from " + other.nodeName() + " to " + echo.allocId();
            assertEquals(payload, udpEcho(other, echo.hostIp(), echo.hostPort(), payload), echo.toString());
        }

        // --- drain c1: its allocations move to c2 and c1 is left clean ----------------------------------
        List<Echo> drained = byNode.get(c1);
        Map<String, long[]> tenders = new LinkedHashMap<>();
        for (Echo echo : drained) {
            NomadAgent.RunDir dir = runDir(c1, echo.allocId())
                    .orElseThrow(() -> new AssertionError("no run directory of " + echo + " in " + c1.stateDir()));
            tenders.put(echo.allocId(), new long[] {dir.tenderPid(), dir.tenderStartTicks()});
            assertTrue(dir.tenderAlive(), "tender of " + echo + " not running");
        }
        long t0 = System.nanoTime();
        cluster.nomad("node", "drain", "-enable", "-yes", "-detach", "-deadline", "30s", c1Id);
        NomadAgent.await("all " + COUNT + " allocations running on " + c2.nodeName() + " and none left on "
                + c1.nodeName(), SETTLE, () -> quietly(() -> {
                    List<JsonNode> allocs = allocs();
                    long onC2 = allocs.stream().filter(a -> a.path("NodeID").asText().equals(c2Id))
                            .filter(a -> a.path("DesiredStatus").asText().equals("run")).filter(taskRunning(TASK))
                            .count();
                    boolean c1Done = allocs.stream().filter(a -> a.path("NodeID").asText().equals(c1Id))
                            .allMatch(NomadAgent.terminal());
                    return onC2 == COUNT && c1Done;
                }), () -> quietly(() -> allocs().stream().map(a -> a.path("ID").asText().substring(0, 8) + " node "
                        + a.path("NodeID").asText().substring(0, 8) + " desired " + a.path("DesiredStatus").asText()
                        + " client " + clientStatus(a)).collect(Collectors.joining("\n"))));
        System.err.printf("ClusterIT: drain moved %d allocation(s) in %.1f s%n", drained.size(),
                (System.nanoTime() - t0) / 1e9);
        for (Echo echo : drained) {
            JsonNode alloc = cluster.json("alloc", "status", "-json", echo.allocId());
            assertEquals("complete", clientStatus(alloc), "drained allocation did not end cleanly: " + describe(alloc));
        }

        NomadAgent.await("nothing of the drained tasks left on " + c1.nodeName(), SETTLE,
                () -> quietly(() -> c1Leftovers(c1, tenders).isEmpty()),
                () -> quietly(() -> String.join("\n", c1Leftovers(c1, tenders))));
        String rules = c1.execOk("iptables-save");
        assertTrue(rules.lines().noneMatch(l -> l.contains("-j DNAT")), "a DNAT rule is left on c1:\n" + rules);
        assertEquals(List.of(), Forwards.in(c1.netns()), "a forward is left on c1");

        // The moved service answers on c2, from c1.
        List<JsonNode> now = awaitRunning(COUNT, SETTLE);
        assertEquals(Set.of(c2Id), now.stream().map(a -> a.path("NodeID").asText()).collect(Collectors.toSet()));
        Set<String> guestIps = new HashSet<>();
        for (JsonNode stub : now) {
            Echo echo = echo(stub);
            assertTrue(guestIps.add(echo.guestIp()), "guest address leased twice on one node: " + echo);
            String payload = "after the drain, to " + echo.allocId();
            assertEquals(payload, udpEcho(c1, echo.hostIp(), echo.hostPort(), payload), echo.toString());
        }
        assertEquals(COUNT, leases(c2).size(), "leases on c2: " + leases(c2));
        List<Echo> onC2 = new ArrayList<>();
        for (JsonNode stub : now) {
            onC2.add(echo(stub));
        }
        assertEquals(forwardsOf(onC2), Set.copyOf(Forwards.in(c2.netns())), "forwards on c2 after the drain");

        // --- stop the job: c2 is left clean too --------------------------------------------------------
        cluster.nomad("job", "stop", "-purge", "-detach", JOB);
        NomadAgent.await("no tap, forward, lease or run directory left on " + c2.nodeName(), SETTLE,
                () -> quietly(() -> mirageTaps(c2).isEmpty() && Forwards.in(c2.netns()).isEmpty() && leases(c2).isEmpty()
                        && runDirs(c2).isEmpty()),
                () -> quietly(() -> "taps " + mirageTaps(c2) + " forwards " + Forwards.in(c2.netns()) + " leases "
                        + leases(c2) + " run dirs " + runDirs(c2)));
        assertEquals(List.of(), taskRules(c2), "per-task rules on c2");
    }

    /** What the drained tasks left on c1: taps, forwards, leases, task rules, live tenders, run directories. */
    private static List<String> c1Leftovers(Node c1, Map<String, long[]> tenders) throws Exception {
        List<String> left = new ArrayList<>();
        if (!mirageTaps(c1).isEmpty()) {
            left.add("taps: " + mirageTaps(c1));
        }
        if (!leases(c1).isEmpty()) {
            left.add("leases: " + leases(c1));
        }
        List<MapForward> forwards = Forwards.in(c1.netns());
        if (!forwards.isEmpty()) {
            left.add("forwards: " + forwards);
        }
        List<String> taskRules = taskRules(c1);
        if (!taskRules.isEmpty()) {
            left.add("task rules: " + taskRules);
        }
        tenders.forEach((alloc, tender) -> {
            if (NomadAgent.processAlive(tender[0], tender[1])) {
                left.add("tender " + tender[0] + " of " + alloc + " alive");
            }
        });
        for (long pid : c1.netnsPids()) {
            String cmdline = NomadAgent.cmdline(pid);
            // The live plugin's supervisor service is its child, not a leftover of the drained tasks.
            if ((cmdline.contains("solo5-hvt") || cmdline.contains("mirage-supervisor"))
                    && !NomadAgent.isServiceOfAPlugin(pid)) {
                left.add("process " + pid + ": " + cmdline);
            }
        }
        if (!runDirs(c1).isEmpty()) {
            left.add("run directories: " + runDirs(c1));
        }
        return left;
    }

    // --- helpers ---------------------------------------------------------------------------------------

    /** The map elements these tasks' ports should be: TCP and UDP from the host port to the guest's port 7. */
    private static Set<MapForward> forwardsOf(List<Echo> echoes) {
        return echoes.stream().flatMap(e -> Forwards.of(e.hostIp(), e.hostPort(), e.guestIp(), 7).stream())
                .collect(Collectors.toSet());
    }

    /** iptables rules with a task's comment: only plugins before the nft maps wrote any. */
    private static List<String> taskRules(Node node) throws IOException, InterruptedException {
        return node.execOk("iptables-save").lines()
                .filter(l -> l.contains("--comment \"mirage:") && !l.contains("--comment \"mirage:pool\"")).toList();
    }

    private List<JsonNode> allocs() throws IOException, InterruptedException {
        List<JsonNode> list = new ArrayList<>();
        cluster.json("job", "allocs", "-json", JOB).forEach(list::add);
        return list;
    }

    /** Waits until exactly {@code count} allocations should run and do; those (list stubs). */
    private List<JsonNode> awaitRunning(int count, Duration timeout) throws InterruptedException {
        List<List<JsonNode>> found = new ArrayList<>(List.of(List.of()));
        NomadAgent.await(count + " running allocations of " + JOB, timeout, () -> quietly(() -> {
            List<JsonNode> live = allocs().stream().filter(a -> a.path("DesiredStatus").asText().equals("run"))
                    .toList();
            found.set(0, live);
            return live.size() == count && live.stream().allMatch(taskRunning(TASK));
        }), () -> quietly(() -> allocs().stream().map(a -> quietly(() -> describe(
                cluster.json("alloc", "status", "-json", a.path("ID").asText())))).collect(Collectors.joining())));
        return found.get(0);
    }

    /** An allocation's host port, guest address and tap (from its "Attached devices" event) and lease. */
    private Echo echo(JsonNode stub) throws Exception {
        String allocId = stub.path("ID").asText();
        JsonNode alloc = cluster.json("alloc", "status", "-json", allocId);
        Node node = cluster.clientById(alloc.path("NodeID").asText());
        JsonNode port = null;
        for (JsonNode p : alloc.path("AllocatedResources").path("Shared").path("Ports")) {
            if (p.path("Label").asText().equals("echo")) {
                port = p;
            }
        }
        assertTrue(port != null, "no port \"echo\": " + alloc.path("AllocatedResources"));
        String detail = describe(alloc);
        Matcher attached = events(alloc, TASK, "Driver").stream()
                .map(e -> ATTACHED.matcher(e.path("DisplayMessage").asText())).filter(Matcher::find).findFirst()
                .orElseThrow(() -> new AssertionError("no \"Attached devices\" event:\n" + detail));
        assertEquals(port.path("Value").asInt(), Integer.parseInt(attached.group(5)), detail);
        String guestIp = attached.group(3);
        String taskId = leases(node).stream().filter(l -> l.path("ip").asText().equals(guestIp))
                .map(l -> l.path("task_id").asText()).filter(id -> id.startsWith(allocId + "/" + TASK + "/"))
                .findFirst().orElseThrow(() -> new AssertionError("no lease of " + allocId + " for " + guestIp
                        + " in " + node.stateDir() + ": " + quietly(() -> leases(node))));
        return new Echo(allocId, node, port.path("HostIP").asText(), port.path("Value").asInt(), guestIp,
                attached.group(1), taskId);
    }

    private List<JsonNode> registrations() throws IOException, InterruptedException {
        List<JsonNode> list = new ArrayList<>();
        NomadAgent.await(COUNT + " registrations of service " + JOB, REACH, () -> quietly(() -> {
            Result result = cluster.tryNomad("service", "info", "-json", JOB);
            list.clear();
            if (result.ok() && result.stdout().strip().startsWith("[")) {
                JSON.readTree(result.stdout()).forEach(list::add);
            }
            return list.size() == COUNT;
        }));
        return list;
    }

    /** A UDP datagram from {@code from}'s namespace to HOST:PORT; the reply (retried until {@link #REACH}). */
    private static String udpEcho(Node from, String host, int port, String payload) throws Exception {
        Result result = from.exec(UdpEchoClient.argvReplyFromTarget(host, port, payload, REACH));
        assertEquals(0, result.exitCode(), "UDP echo from " + from + " through " + host + ":" + port + " failed: "
                + result);
        return result.stdout();
    }

    private static List<JsonNode> leases(Node node) throws IOException {
        List<JsonNode> leases = new ArrayList<>();
        try {
            JSON.valueToTree(nomadmirage.network.Ipam.stored(new nomadmirage.state.StateDirectory(node.stateDir())))
                    .forEach(leases::add);
        } catch (nomadmirage.network.NetworkSetupException e) {
            throw new IOException(e.getMessage(), e);
        }
        return leases;
    }

    private static List<String> mirageTaps(Node node) throws IOException, InterruptedException {
        List<String> names = new ArrayList<>();
        for (String line : node.execOk("ip", "-o", "link").lines().toList()) {
            Matcher m = LINK_NAME.matcher(line);
            if (m.find() && m.group(1).startsWith("mg")) {
                names.add(m.group(1));
            }
        }
        return names.stream().sorted().toList();
    }

    private static List<Path> runDirs(Node node) throws IOException {
        Path tasks = node.stateDir().resolve("tasks");
        if (!Files.isDirectory(tasks)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(tasks)) {
            return entries.toList();
        }
    }

    private static java.util.Optional<NomadAgent.RunDir> runDir(Node node, String allocId) throws IOException {
        return runDirs(node).stream().filter(p -> p.getFileName().toString().startsWith(allocId + "." + TASK + "."))
                .findFirst().map(NomadAgent.RunDir::new);
    }
}
