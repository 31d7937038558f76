package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import nomadmirage.testing.TestEnv;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.testing.Netns;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The forwards of a busy node: 600 tasks with two forwarded ports each, TCP and UDP, as 2,400 elements
 * of the {@code ip nomad_mirage} maps (loaded with one {@code nft -f} in the form {@link MapForward}
 * writes; every fourth task's on one host address, in {@code fwd_addr}), each task holding a lease for
 * its guest address, next to another program's iptables rules and an nft table of its own with maps of
 * the same names. Plugins before the maps installed 13 iptables rules per such task (7,800, about 1.15 MB
 * as iptables-save prints them): one test loads those and has them removed. The test reads the chains back
 * through a file (never through a bounded pipe), so its own view is exact.
 * {@code -Dmirage.it.foreignRules=N} sets how many foreign nat rules surround ours (default 2,000).
 */
@Tag("root")
@Tag("netns")
class NetworkScaleIT {
    private static final String BRIDGE = "mirage0";
    private static final Ipv4Cidr SUBNET = Ipv4Cidr.parse("10.99.0.0/16");
    private static final OptionalInt UID = OptionalInt.of(4242);
    private static final OptionalInt GID = OptionalInt.of(4343);
    private static final int TASKS = 600;
    private static final int FIRST_PORT = 20000;
    /** Legacy rules: 4 DNAT (tcp, udp; PREROUTING, OUTPUT) + 2 ACCEPT per port, 1 MASQUERADE per device. */
    private static final int RULES_PER_TASK = 2 * 6 + 1;
    /** Map elements: tcp and udp for each of two ports. */
    private static final int FORWARDS_PER_TASK = 2 * 2;
    private static final int POOL_RULES = 7;
    /** The host address the forwards of every fourth task are on (the bridge's, so local in the namespace). */
    private static final String HOST_ADDRESS = "10.99.0.1";
    private static final int FOREIGN_RULES = Integer.getInteger("mirage.it.foreignRules", 2000);

    @TempDir
    Path stateDir;

    private Netns ns;
    private NetworkSettings settings;
    private NetworkManager manager;
    private IptablesFirewall firewall;
    private final ByteArrayOutputStream logged = new ByteArrayOutputStream();
    private LogSink sink;

    @BeforeEach
    void setUp() throws Exception {
        ns = Netns.create();
        settings = NetworkSettings.withDefaults(BRIDGE, SUBNET, stateDir);
        sink = new LogSink(logged);
        manager = NetworkManager.overCommands(settings, ns.runner(), Logger.root("test", sink, LogLevel.INFO));
        firewall = new IptablesFirewall(ns.runner(), settings.networkDir());
        manager.ensureHostSetup();
    }

    @AfterEach
    void tearDown() throws Exception {
        sink.close();
        ns.close();
    }

    private static String taskId(int i) {
        return "alloc-" + i + "/web/" + String.format("%08x", i);
    }

    private static int hostPort(int task, int port) {
        return FIRST_PORT + 2 * task + port;
    }

    /**
     * Guest addresses far from where the IPAM starts, so a task attached later gets none of them; every
     * fourth task forwards on {@link #HOST_ADDRESS} only.
     */
    private static DeviceAttachment device(int i) {
        String id = taskId(i);
        String ip = "10.99." + (100 + i / 250) + "." + (1 + i % 250);
        String hostIp = i % 4 == 1 ? HOST_ADDRESS : "";
        return new DeviceAttachment("service", TapNames.forDevice(id, "service"), MacAddresses.derive("00:80:41", id,
                "service"), ip, SUBNET.prefixLength(), "10.99.0.1",
                List.of(new PortForward("http", hostPort(i, 0), 80, hostIp), new PortForward("dns", hostPort(i, 1), 53, hostIp)));
    }

    private static List<MapForward> forwardsOf(int i) {
        return MapForward.of(device(i));
    }

    /** Foreign iptables rules around ours, as kube-proxy or Docker would have them, in one restore. */
    private void loadForeignRules() throws Exception {
        StringBuilder foreign = new StringBuilder("*nat\n:KUBE-SVC-TEST - [0:0]\n-A PREROUTING -j KUBE-SVC-TEST\n");
        for (int i = 0; i < FOREIGN_RULES; i++) {
            foreign.append("-A KUBE-SVC-TEST -d 10.96.").append(i / 250).append('.').append(i % 250)
                    .append("/32 -p tcp -m tcp --dport 80 -m comment --comment \"default/svc-").append(i)
                    .append(":http\" -j DNAT --to-destination 10.244.1.1:8080\n");
        }
        foreign.append("COMMIT\n*filter\n:DOCKER - [0:0]\n-A FORWARD -j DOCKER\n")
                .append("-A DOCKER -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n");
        restore(foreign.toString());
    }

    /**
     * The foreign rules, another program's nft table with maps named as ours (whose elements are none of
     * ours), then the forwards of {@link #TASKS} tasks in one {@code nft -f}; leases for every task but
     * {@code unleased} (as one whose release failed half-way would leave). Returns the forwards loaded.
     */
    private List<MapForward> loadForwards(Set<Integer> unleased) throws Exception {
        loadForeignRules();
        StringBuilder foreign = new StringBuilder("add table ip other\n")
                .append("add map ip other fwd_local { type inet_proto . inet_service : ipv4_addr . inet_service; }\n");
        for (int i = 0; i < 50; i++) {
            foreign.append("add element ip other fwd_local { tcp . ").append(FIRST_PORT + i).append(" : 10.244.1.")
                    .append(1 + i).append(" . 8080 }\n");
        }
        nft(foreign.toString());

        List<MapForward> loaded = new ArrayList<>();
        StringBuilder ours = new StringBuilder();
        Ipam ipam = new Ipam(settings);
        for (int i = 0; i < TASKS; i++) {
            DeviceAttachment device = device(i);
            for (MapForward forward : forwardsOf(i)) {
                loaded.add(forward);
                ours.append("add element ip ").append(NftForwards.TABLE).append(' ').append(forward.map()).append(" { ")
                        .append(forward.element()).append(" }\n");
            }
            if (!unleased.contains(i)) {
                ipam.allocateStatic(taskId(i), device.device(), device.ip(), Optional.of(device.mac()));
            }
        }
        long start = System.nanoTime();
        nft(ours.toString());
        System.out.printf("NetworkScaleIT: nft -f loaded %d forwards in %d ms%n", loaded.size(),
                (System.nanoTime() - start) / 1_000_000);
        return loaded;
    }

    private void nft(String text) throws Exception {
        Path file = Files.createTempFile(stateDir, "load-", ".nft");
        Files.writeString(file, text);
        ns.run("nft", "-f", file.toString());
    }

    private List<MapForward> listed() throws Exception {
        return new NftForwards(ns.runner()).list();
    }

    private static Set<MapForward> without(List<MapForward> all, List<MapForward> gone) {
        Set<MapForward> left = new HashSet<>(all);
        gone.forEach(left::remove);
        return left;
    }

    /** The log's warnings, once everything logged so far was written. */
    private List<String> warnings() throws Exception {
        sink.flush(2000);
        return logged.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains("\"@level\":\"warn\"")).toList();
    }

    /** The foreign rules, then the per-task rules of an older plugin for every task in a second restore; returns those. */
    private List<SavedRule> loadLegacyTasks() throws Exception {
        loadForeignRules();
        List<SavedRule> rules = new ArrayList<>();
        RuleBatch batch = new RuleBatch();
        for (int i = 0; i < TASKS; i++) {
            for (SavedRule rule : legacyTaskRules(taskId(i), device(i))) {
                rules.add(rule);
                batch.add(rule.table(), rule.appendLine());
            }
        }
        restore(batch.render());
        return rules;
    }

    /** The per-task rules plugins before the nft maps installed, exactly as they wrote them. */
    static List<SavedRule> legacyTaskRules(String taskId, DeviceAttachment device) {
        String tag = " -m comment --comment \"" + IptablesRules.comment(taskId) + "\"";
        List<SavedRule> nat = new ArrayList<>();
        List<SavedRule> filter = new ArrayList<>();
        for (PortForward forward : device.forwards()) {
            for (String proto : List.of("tcp", "udp")) {
                String dnat = "-p " + proto + " -m " + proto + " --dport " + forward.hostPort()
                        + " -m addrtype --dst-type LOCAL" + tag + " -j DNAT --to-destination " + device.ip() + ":"
                        + forward.guestPort();
                nat.add(legacy(Chain.PRE, dnat));
                nat.add(legacy(Chain.OUT, dnat));
                filter.add(legacy(Chain.FWD, "-d " + device.ip() + "/32 -p " + proto + " -m " + proto + " --dport "
                        + forward.guestPort() + tag + " -j ACCEPT"));
            }
        }
        nat.add(legacy(Chain.POST, "-s 127.0.0.0/8 -d " + device.ip() + "/32" + tag + " -j MASQUERADE"));
        List<SavedRule> all = new ArrayList<>(nat);
        all.addAll(filter);
        return all;
    }

    private static SavedRule legacy(Chain chain, String spec) {
        return new SavedRule(chain.table(), chain.chainName(), spec, IptablesSave.comment(spec));
    }

    private void restore(String text) throws Exception {
        Path file = Files.createTempFile(stateDir, "load-", ".rules");
        Files.writeString(file, text);
        ns.run("iptables-restore", "-w", "10", "--noflush", file.toString());
    }

    /** Our rules as iptables-save prints them, read through a file so that no output bound applies. */
    private List<SavedRule> saved(String... options) throws Exception {
        Path file = stateDir.resolve("saved-" + System.nanoTime() + ".txt");
        ns.run("sh", "-c", "iptables-save " + String.join(" ", options) + " > " + file);
        return IptablesSave.ourRules(Files.readString(file));
    }

    private static List<String> described(List<SavedRule> rules) {
        return rules.stream().map(SavedRule::describe).sorted().toList();
    }

    private static boolean ownedBy(SavedRule rule, String taskId) {
        return rule.comment().orElse("").equals(IptablesRules.comment(taskId));
    }

    /** Everything iptables-save prints (foreign rules too), read through a file. */
    private String saveAll() throws Exception {
        Path file = stateDir.resolve("all-" + System.nanoTime() + ".txt");
        ns.run("sh", "-c", "iptables-save > " + file);
        return Files.readString(file);
    }

    @Test
    void theMapsListEveryForwardOfSixHundredTasks() throws Exception {
        int unleased = TASKS / 3;
        List<MapForward> loaded = loadForwards(Set.of(unleased));
        assertEquals(TASKS * FORWARDS_PER_TASK, loaded.size());
        assertEquals(TASKS * FORWARDS_PER_TASK, new HashSet<>(loaded).size(), "no two forwards alike");

        List<MapForward> listed = null;
        long best = Long.MAX_VALUE;
        for (int round = 0; round < 3; round++) {
            long start = System.nanoTime();
            listed = listed();
            best = Math.min(best, System.nanoTime() - start);
        }
        System.out.printf("NetworkScaleIT: nft listed %d forwards of %d tasks (%d foreign nat rules, another table's"
                + " maps beside them) in %d ms (best of 3)%n", listed.size(), TASKS, FOREIGN_RULES, best / 1_000_000);
        assertEquals(TASKS * FORWARDS_PER_TASK, listed.size(), "forwards listed");
        assertEquals(Set.copyOf(loaded), Set.copyOf(listed), "listed exactly as loaded, and nothing of the other table");
        assertEquals(TASKS / 4 * FORWARDS_PER_TASK, listed.stream().filter(f -> f.map().equals("fwd_addr")).count());

        List<SavedRule> ours = saved();
        assertEquals(POOL_RULES, ours.size(), "no iptables rule per task, only the pool's: " + described(ours));
        assertEquals(described(IptablesRules.pool(BRIDGE, SUBNET)), described(ours));

        long start = System.nanoTime();
        NetworkStatus status = manager.status();
        System.out.printf("NetworkScaleIT: status of %d tasks took %d ms%n", TASKS, (System.nanoTime() - start) / 1_000_000);
        assertEquals(TASKS - 1, status.tasks().size());
        Map<String, List<String>> byTask = status.tasks().stream().collect(Collectors.toMap(TaskNetwork::taskId,
                TaskNetwork::rules));
        for (int i : new int[] {0, 1, TASKS / 2, TASKS - 1}) {
            assertEquals(forwardsOf(i).stream().map(f -> "nft " + f.map() + " " + f.element()).collect(Collectors.toSet()),
                    Set.copyOf(byTask.get(taskId(i))), taskId(i));
        }
        assertTrue(status.tasks().stream().allMatch(t -> t.rules().size() == FORWARDS_PER_TASK));
        assertEquals(forwardsOf(unleased).stream().map(f -> "nft " + f.map() + " " + f.element()).collect(Collectors.toSet()),
                Set.copyOf(status.orphanRules()), "the forwards to an address nobody leases are orphans");
    }

    @Test
    void detachingOneOfSixHundredTasksRemovesOnlyItsForwards() throws Exception {
        List<MapForward> loaded = loadForwards(Set.of());
        List<MapForward> gone = new ArrayList<>();
        for (int victim : new int[] {TASKS - 1, TASKS / 2, 0, 1}) {
            String id = taskId(victim);
            List<MapForward> its = forwardsOf(victim);
            assertTrue(listed().containsAll(its), id);
            long start = System.nanoTime();
            manager.detach(new NetworkTeardown(id, List.of(), List.of()));
            System.out.printf("NetworkScaleIT: detaching %s (%s) took %d ms%n", id, its.getFirst().map(),
                    (System.nanoTime() - start) / 1_000_000);
            gone.addAll(its);
            assertEquals(without(loaded, gone), Set.copyOf(listed()), "after the detach of " + id
                    + " its forwards are gone and every other task's stay");
            assertTrue(new Ipam(settings).leases().stream().noneMatch(l -> l.taskId().equals(id)), id + " keeps its lease");
        }
        assertEquals(TASKS - 4, new Ipam(settings).leases().size(), "the other tasks' leases stay");
        assertEquals(POOL_RULES, saved().size());
        assertEquals(List.of(), warnings());
    }

    /**
     * Forwards for the host ports a new task asks for are held by a task without a lease (its release
     * failed half-way) and, on one host address only, by a task that still holds its lease: the new
     * tasks' attaches replace both with a warning each, and datagrams to the ports reach the new guests.
     */
    @Test
    void attachEvictsDeadForwardsForTheSameHostPorts() throws Exception {
        int dead = TASKS - 1;
        int stale = TASKS - 3;
        assertEquals("fwd_local", forwardsOf(dead).getFirst().map());
        assertEquals("fwd_addr", forwardsOf(stale).getFirst().map());
        List<MapForward> loaded = loadForwards(Set.of(dead));
        int deadPort = hostPort(dead, 0);
        int stalePort = hostPort(stale, 0);

        long start = System.nanoTime();
        DeviceAttachment first = manager.attach("t-new", UID, GID, List.of(DeviceRequest.pooled("service",
                List.of(PortForward.anyAddress("http", deadPort, 80))))).devices().getFirst();
        System.out.printf("NetworkScaleIT: attaching a task next to %d tasks' forwards (evicting 2) took %d ms%n", TASKS,
                (System.nanoTime() - start) / 1_000_000);
        DeviceAttachment second = manager.attach("t-second", UID, GID, List.of(DeviceRequest.pooled("service",
                List.of(PortForward.anyAddress("http", stalePort, 80))))).devices().getFirst();

        List<MapForward> evicted = new ArrayList<>();
        evicted.addAll(forwardsOf(dead).stream().filter(f -> f.hostPort() == deadPort).toList());
        evicted.addAll(forwardsOf(stale).stream().filter(f -> f.hostPort() == stalePort).toList());
        assertEquals(4, evicted.size());
        Set<MapForward> expected = without(loaded, evicted);
        expected.addAll(MapForward.of(first));
        expected.addAll(MapForward.of(second));
        assertEquals(expected, Set.copyOf(listed()), "exactly the evicted forwards replaced by the new tasks' ones");
        for (int port : new int[] {deadPort, stalePort}) {
            String ip = port == deadPort ? first.ip() : second.ip();
            assertEquals(Set.of(new MapForward("", "tcp", port, ip, 80), new MapForward("", "udp", port, ip, 80)),
                    listed().stream().filter(f -> f.hostPort() == port).collect(Collectors.toSet()),
                    "port " + port + " is forwarded to the new task only, on every address");
        }
        assertTrue(listed().containsAll(forwardsOf(dead).stream().filter(f -> f.hostPort() != deadPort).toList()),
                "the dead task's other port is nobody's business here");

        List<String> warnings = warnings();
        assertEquals(4, warnings.size(), String.join("\n", warnings));
        assertEquals(2, warnings.stream().filter(l -> l.contains("t-new") && l.contains("(no lease)")).count(),
                String.join("\n", warnings));
        assertEquals(2, warnings.stream().filter(l -> l.contains("t-second") && l.contains(taskId(stale))).count(),
                String.join("\n", warnings));

        // A datagram from the node itself to 127.0.0.1 goes through fwd_local to the new guest (masqueraded
        // to the bridge address); one to the host address, which a fwd_addr element took before, too.
        TapGuest newGuest = TapGuest.open(ns, first);
        TapGuest secondGuest = TapGuest.open(ns, second);
        sendUdp("127.0.0.1", deadPort, "to-new");
        assertEquals("udp 10.99.0.1 " + first.ip() + " to-new", newGuest.await("udp"));
        sendUdp(HOST_ADDRESS, stalePort, "to-second");
        assertEquals("udp 10.99.0.1 " + second.ip() + " to-second", secondGuest.await("udp"));
        // The guests print no port: the namespace's connection tracking has the translated one.
        TestEnv.require(ns.exec("test", "-r", "/proc/net/nf_conntrack").succeeded(),
                "/proc/net/nf_conntrack is missing: the translated guest port is unobservable");
        Pattern translated = Pattern.compile(".*\\budp\\b.* dport=" + deadPort + " .* src=" + Pattern.quote(first.ip())
                + " dst=10\\.99\\.0\\.1 sport=80 .*");
        String conntrack = ns.run("cat", "/proc/net/nf_conntrack");
        assertTrue(conntrack.lines().anyMatch(l -> translated.matcher(l).matches()), conntrack);

        start = System.nanoTime();
        DeviceAttachment other = manager.attach("t-other", UID, GID,
                List.of(DeviceRequest.pooled("service", List.of(PortForward.anyAddress("http", FIRST_PORT - 1, 80)))))
                .devices().getFirst();
        System.out.printf("NetworkScaleIT: attaching another task (nothing to evict) took %d ms%n",
                (System.nanoTime() - start) / 1_000_000);
        expected.addAll(MapForward.of(other));
        assertEquals(expected, Set.copyOf(listed()));
        assertEquals(4, warnings().size(), "nothing evicted");
    }

    private void sendUdp(String ip, int port, String payload) {
        ns.run("python3", "-c", "import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                + ".sendto(sys.argv[1].encode(), (sys.argv[2], int(sys.argv[3])))", payload, ip, Integer.toString(port));
    }

    /**
     * An older plugin's per-task iptables rules for 600 tasks (none holding a lease, as after an upgrade
     * whose tasks are gone): detaching one task removes its 13 rules only, and a reconcile that keeps no
     * task removes all the rest; the pool rules and the foreign rules stay.
     */
    @Test
    void legacyRulesOfSixHundredTasksAreRemovedByDetachAndReconcile() throws Exception {
        List<SavedRule> loaded = loadLegacyTasks();
        assertEquals(TASKS * RULES_PER_TASK, loaded.size());
        List<SavedRule> expected = new ArrayList<>(loaded);
        expected.addAll(IptablesRules.pool(BRIDGE, SUBNET));
        long start = System.nanoTime();
        List<SavedRule> listed = firewall.rules();
        System.out.printf("NetworkScaleIT: the firewall listed %d legacy rules of %d tasks (%d foreign nat rules around"
                + " them) in %d ms%n", listed.size(), TASKS, FOREIGN_RULES, (System.nanoTime() - start) / 1_000_000);
        assertEquals(described(expected), described(listed), "listed exactly as generated");
        assertEquals(described(expected), described(saved()), "iptables-save through a file");

        String victim = taskId(TASKS / 2);
        start = System.nanoTime();
        manager.detach(new NetworkTeardown(victim, List.of(), List.of()));
        System.out.printf("NetworkScaleIT: detaching %s (legacy rules) took %d ms%n", victim,
                (System.nanoTime() - start) / 1_000_000);
        expected.removeIf(r -> ownedBy(r, victim));
        assertEquals(TASKS * RULES_PER_TASK - RULES_PER_TASK + POOL_RULES, expected.size());
        assertEquals(described(expected), described(saved()), "only the rules of " + victim + " are gone");

        start = System.nanoTime();
        ReconcileReport report = manager.reconcile(Set.of());
        System.out.printf("NetworkScaleIT: reconcile removed %d legacy rules in %d ms%n", report.removedRules().size(),
                (System.nanoTime() - start) / 1_000_000);
        assertEquals(List.of(), report.problems());
        assertEquals((TASKS - 1) * RULES_PER_TASK, report.removedRules().size());
        assertEquals(described(IptablesRules.pool(BRIDGE, SUBNET)), described(saved()), "only the pool rules remain");
        String all = saveAll();
        assertEquals(FOREIGN_RULES, all.lines().filter(l -> l.startsWith("-A KUBE-SVC-TEST ")).count(), "foreign nat rules");
        assertTrue(all.contains("-A DOCKER -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT"), "foreign filter rule");
        assertEquals(List.of(), listed(), "no forwards appeared");
    }
}
