package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
 * Our chains at the size of a busy node: 600 tasks with two forwarded ports each (7,800 task rules,
 * about 1.15 MB as iptables-save prints them), loaded with one iptables-restore in the exact form
 * {@link IptablesRules} writes, next to another program's rules in the same tables. The test reads
 * the chains back through a file (never through a bounded pipe), so its own view is exact.
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
    /** 4 DNAT (tcp, udp; PREROUTING, OUTPUT) + 2 ACCEPT per port, 1 MASQUERADE per device. */
    private static final int RULES_PER_TASK = 2 * 6 + 1;
    private static final int POOL_RULES = 5;
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

    /** Guest addresses far from where the IPAM starts, so a task attached later gets none of them. */
    private static DeviceAttachment device(int i) {
        String id = taskId(i);
        String ip = "10.99." + (100 + i / 250) + "." + (1 + i % 250);
        return new DeviceAttachment("service", TapNames.forDevice(id, "service"), MacAddresses.derive("00:80:41", id,
                "service"), ip, SUBNET.prefixLength(), "10.99.0.1",
                List.of(PortForward.anyAddress("http", hostPort(i, 0), 80), PortForward.anyAddress("dns", hostPort(i, 1), 53)));
    }

    /**
     * Foreign rules around ours (as kube-proxy or Docker would have them) in one restore, then the
     * task rules as {@link IptablesRules#taskRules} generates them in a second one; returns those.
     */
    private List<SavedRule> loadTasks() throws Exception {
        StringBuilder foreign = new StringBuilder("*nat\n:KUBE-SVC-TEST - [0:0]\n-A PREROUTING -j KUBE-SVC-TEST\n");
        for (int i = 0; i < FOREIGN_RULES; i++) {
            foreign.append("-A KUBE-SVC-TEST -d 10.96.").append(i / 250).append('.').append(i % 250)
                    .append("/32 -p tcp -m tcp --dport 80 -m comment --comment \"default/svc-").append(i)
                    .append(":http\" -j DNAT --to-destination 10.244.1.1:8080\n");
        }
        foreign.append("COMMIT\n*filter\n:DOCKER - [0:0]\n-A FORWARD -j DOCKER\n")
                .append("-A DOCKER -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n");
        restore(foreign.toString());

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

    private static final Pattern DPORT = Pattern.compile("(?:^|\\s)--dport (\\d+)(?:\\s|$)");

    private static boolean forwardsPort(SavedRule rule, int port) {
        Matcher m = DPORT.matcher(rule.spec());
        return (rule.chain().equals(Chain.PRE.chainName()) || rule.chain().equals(Chain.OUT.chainName()))
                && rule.spec().contains(" -j DNAT ") && m.find() && Integer.parseInt(m.group(1)) == port;
    }

    @Test
    void theFirewallListsEveryRuleOfSixHundredTasks() throws Exception {
        List<SavedRule> loaded = loadTasks();
        assertEquals(TASKS * RULES_PER_TASK, loaded.size());
        List<SavedRule> truth = saved();
        assertEquals(TASKS * RULES_PER_TASK + POOL_RULES, truth.size(), "iptables-save through a file");

        List<SavedRule> listed = null;
        long best = Long.MAX_VALUE;
        for (int round = 0; round < 3; round++) {
            long start = System.nanoTime();
            listed = firewall.rules();
            best = Math.min(best, System.nanoTime() - start);
        }
        System.out.printf("NetworkScaleIT: the firewall listed %d rules of %d tasks (%d foreign nat rules around them)"
                + " in %d ms (best of 3)%n", listed.size(), TASKS, FOREIGN_RULES, best / 1_000_000);
        assertEquals(TASKS * RULES_PER_TASK + POOL_RULES, listed.size(), "rules the firewall sees");
        assertEquals(described(truth), described(listed));
        List<SavedRule> expected = new ArrayList<>(loaded);
        expected.addAll(IptablesRules.pool(BRIDGE, SUBNET));
        assertEquals(described(expected), described(listed), "listed exactly as generated");
    }

    @Test
    void detachingOneOfSixHundredTasksLeavesNoneOfItsRules() throws Exception {
        loadTasks();
        for (int victim : new int[] {TASKS - 1, TASKS / 2, 0}) {
            String id = taskId(victim);
            assertEquals(RULES_PER_TASK, saved().stream().filter(r -> ownedBy(r, id)).count(), id);
            long start = System.nanoTime();
            manager.detach(new NetworkTeardown(id, List.of(), List.of()));
            System.out.printf("NetworkScaleIT: detaching %s took %d ms%n", id, (System.nanoTime() - start) / 1_000_000);
            List<SavedRule> left = saved().stream().filter(r -> ownedBy(r, id)).toList();
            assertEquals(List.of(), described(left), "rules of " + id + " left after its detach");
        }
        assertEquals((TASKS - 3) * RULES_PER_TASK + POOL_RULES, saved().size(), "the other tasks' rules stay");
    }

    @Test
    void attachEvictsADeadTasksRuleForTheSameHostPort() throws Exception {
        loadTasks();
        int dead = TASKS - 1;
        String deadId = taskId(dead);
        int port = hostPort(dead, 0);
        assertEquals(4, saved().stream().filter(r -> forwardsPort(r, port)).filter(r -> ownedBy(r, deadId)).count());

        long start = System.nanoTime();
        Attachment attachment = manager.attach("t-new", UID, GID,
                List.of(DeviceRequest.pooled("service", List.of(PortForward.anyAddress("http", port, 80)))));
        System.out.printf("NetworkScaleIT: attaching a task next to %d tasks took %d ms%n", TASKS,
                (System.nanoTime() - start) / 1_000_000);
        String ip = attachment.devices().getFirst().ip();

        List<SavedRule> forPort = saved().stream().filter(r -> forwardsPort(r, port)).toList();
        assertEquals(4, forPort.size(), "tcp and udp, PREROUTING and OUTPUT, of the new task only: " + forPort);
        assertTrue(forPort.stream().allMatch(r -> ownedBy(r, "t-new")), forPort.toString());
        assertTrue(forPort.stream().allMatch(r -> r.spec().endsWith(" --to-destination " + ip + ":80")), forPort.toString());
        assertEquals(4, saved().stream().filter(r -> forwardsPort(r, hostPort(dead, 1))).filter(r -> ownedBy(r, deadId))
                .count(), "the dead task's other port is nobody's business here");
        assertEquals(RULES_PER_TASK - 4, saved().stream().filter(r -> ownedBy(r, deadId)).count());

        sink.flush(2000);
        String log = logged.toString(StandardCharsets.UTF_8);
        List<String> warnings = log.lines().filter(l -> l.contains("\"@level\":\"warn\"")).toList();
        assertEquals(4, warnings.size(), log);
        assertTrue(warnings.stream().allMatch(l -> l.contains("t-new") && l.contains(deadId)), log);

        // A datagram to the port from the node itself goes through the new task's OUTPUT rule.
        ns.run("python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                + "s.sendto(b'ping', ('127.0.0.1', " + port + "))");
        Path counted = stateDir.resolve("counted.txt");
        ns.run("sh", "-c", "iptables-save -c -t nat > " + counted);
        Pattern counter = Pattern.compile("^\\[(\\d+):\\d+\\] -A NOMAD_MG_OUT (.*--dport " + port + " .*)$");
        long hits = 0;
        for (String line : Files.readAllLines(counted)) {
            Matcher m = counter.matcher(line);
            if (m.matches() && Long.parseLong(m.group(1)) > 0) {
                assertTrue(m.group(2).contains("mirage:t-new") && m.group(2).contains("-p udp "), line);
                hits += Long.parseLong(m.group(1));
            }
        }
        assertTrue(hits >= 1, "the new task's udp rule counted the datagram");

        start = System.nanoTime();
        manager.attach("t-other", UID, GID,
                List.of(DeviceRequest.pooled("service", List.of(PortForward.anyAddress("http", FIRST_PORT - 1, 80)))));
        System.out.printf("NetworkScaleIT: attaching another task (nothing to evict) took %d ms%n",
                (System.nanoTime() - start) / 1_000_000);
        assertEquals(7, saved().stream().filter(r -> ownedBy(r, "t-other")).count());
    }
}
