package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.testing.Netns;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The real ip, sysctl and iptables, inside a network namespace the test creates and deletes. */
@Tag("root")
@Tag("netns")
class NetworkIT {
    private static final String BRIDGE = "mirage0";
    private static final Ipv4Cidr SUBNET = Ipv4Cidr.parse("10.99.0.0/16");
    private static final OptionalInt UID = OptionalInt.of(4242);
    private static final OptionalInt GID = OptionalInt.of(4343);

    @TempDir
    Path stateDir;

    private Netns ns;
    private final List<Netns> guests = new ArrayList<>();
    private NetworkSettings settings;
    private NetworkManager manager;

    @BeforeEach
    void setUp() throws Exception {
        ns = Netns.create();
        settings = NetworkSettings.withDefaults(BRIDGE, SUBNET, stateDir);
        manager = NetworkManager.overCommands(settings, ns.runner(),
                Logger.root("test", new LogSink(OutputStream.nullOutputStream()), LogLevel.OFF));
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            for (Netns guest : guests) {
                guest.close();
            }
        } finally {
            ns.close();
        }
    }

    private String save() {
        return ns.run("iptables-save");
    }

    private static long count(String text, String line) {
        return Arrays.stream(text.split("\n")).filter(line::equals).count();
    }

    private List<SavedRule> rulesOf(String taskId) {
        String comment = IptablesRules.comment(taskId);
        return IptablesSave.ourRules(save()).stream().filter(r -> r.comment().orElse("").equals(comment)).toList();
    }

    private List<String> tapsInNamespace() {
        return IpCommandHostNetwork.linkNames(ns.run("ip", "-o", "link", "show", "type", "tun"));
    }

    @Test
    void hostSetupFiveTimesLeavesOneJumpPerChainAndOneOfEachPoolRule() throws Exception {
        for (int i = 0; i < 5; i++) {
            manager.ensureHostSetup();
        }
        String saved = save();
        for (Chain chain : Chain.values()) {
            assertEquals(1, count(saved, "-A " + chain.parent() + " -j " + chain.chainName()), chain + " in\n" + saved);
        }
        for (SavedRule rule : IptablesRules.pool(BRIDGE, SUBNET)) {
            assertEquals(1, count(saved, rule.appendLine()), "iptables-save prints the pool rules as generated:\n"
                    + rule.appendLine() + "\nin\n" + saved);
        }
        HostSetup again = new HostSetup(settings, new IpCommandHostNetwork(ns.runner()),
                new IptablesFirewall(ns.runner(), settings.networkDir()), new NftGuestFilter(ns.runner()),
                new NftForwards(ns.runner()));
        assertFalse(again.ensure(), "a set-up host needs no rule changes");

        String link = ns.run("ip", "-o", "link", "show", "dev", BRIDGE);
        assertTrue(link.matches("(?s).*<[^>]*\\bUP\\b[^>]*>.*mtu 1500.*"), link);
        assertTrue(ns.run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE).contains("inet 10.99.0.1/16 "));
        assertEquals("1", ns.run("sysctl", "-n", "net.ipv4.ip_forward").strip());
        assertEquals("1", ns.run("sysctl", "-n", "net/ipv4/conf/" + BRIDGE + "/route_localnet").strip());
        assertEquals("0", ns.run("sysctl", "-n", "net.ipv4.conf.all.route_localnet").strip(),
                "route_localnet stays off for other interfaces");
    }

    @Test
    void subnetChangeMovesTheBridgeAddressAndPoolRules() throws Exception {
        manager.ensureHostSetup();
        NetworkSettings moved = NetworkSettings.withDefaults(BRIDGE, Ipv4Cidr.parse("10.50.0.0/24"), stateDir);
        NetworkManager.overCommands(moved, ns.runner(),
                Logger.root("test", new LogSink(OutputStream.nullOutputStream()), LogLevel.OFF)).ensureHostSetup();
        String addresses = ns.run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE);
        assertTrue(addresses.contains("inet 10.50.0.1/24 "), addresses);
        assertFalse(addresses.contains("10.99.0.1"), addresses);
        String saved = save();
        assertFalse(saved.contains("10.99.0.0/16"), saved);
        assertEquals(7, IptablesSave.ourRules(saved).size(), saved);
        assertEquals(IptablesRules.pool(BRIDGE, Ipv4Cidr.parse("10.50.0.0/24")).stream().map(SavedRule::describe)
                .sorted().toList(), IptablesSave.ourRules(saved).stream().map(SavedRule::describe).sorted().toList(),
                "the pool rules of the new subnet only");
    }

    @Test
    void fiftyParallelAttachesThenDetaches() throws Exception {
        manager.ensureHostSetup();
        int tasks = 50;
        ExecutorService pool = Executors.newFixedThreadPool(16);
        List<Attachment> attachments = new ArrayList<>();
        try {
            List<Future<Attachment>> futures = new ArrayList<>();
            for (int i = 0; i < tasks; i++) {
                String taskId = "alloc-" + i + "/web/" + String.format("%08x", i);
                List<PortForward> forwards = List.of(PortForward.anyAddress("http", 20000 + 2 * i, 80),
                        PortForward.anyAddress("dns", 20001 + 2 * i, 53));
                futures.add(pool.submit(() -> manager.attach(taskId, UID, GID,
                        List.of(DeviceRequest.pooled("service", forwards)))));
            }
            for (Future<Attachment> f : futures) {
                attachments.add(f.get());
            }

            List<DeviceAttachment> devices = attachments.stream().map(a -> a.devices().getFirst()).toList();
            assertEquals(tasks, devices.stream().map(DeviceAttachment::tap).distinct().count());
            assertEquals(tasks, devices.stream().map(DeviceAttachment::ip).distinct().count());
            assertEquals(tasks, devices.stream().map(DeviceAttachment::mac).distinct().count());

            Set<String> taps = devices.stream().map(DeviceAttachment::tap).collect(Collectors.toSet());
            assertEquals(taps, new HashSet<>(tapsInNamespace()));
            for (String line : ns.run("ip", "-d", "-o", "link", "show", "type", "tun").split("\n")) {
                assertTrue(line.contains(" master " + BRIDGE + " "), line);
                assertTrue(line.contains("mtu 1500"), line);
                assertTrue(line.contains(" hairpin on "), line);
            }
            Map<String, String> owners = sysfs("owner");
            Map<String, String> groups = sysfs("group");
            for (String tap : taps) {
                assertEquals("4242", owners.get(tap), tap);
                assertEquals("4343", groups.get(tap), tap);
            }
            assertEquals(devices.stream().map(d -> new Pin(d.tap(), d.mac(), d.ip())).collect(Collectors.toSet()),
                    Set.copyOf(new NftGuestFilter(ns.runner()).pins()));
            List<MapForward> listed = new NftForwards(ns.runner()).list();
            for (Attachment attachment : attachments) {
                String taskId = attachment.teardown().taskId();
                assertEquals(List.of(), rulesOf(taskId), "forwards are map elements, not rules");
                Set<MapForward> generated = attachment.devices().stream().flatMap(d -> MapForward.of(d).stream())
                        .collect(Collectors.toSet());
                Set<String> ips = attachment.devices().stream().map(DeviceAttachment::ip).collect(Collectors.toSet());
                assertEquals(generated, listed.stream().filter(f -> ips.contains(f.guestIp())).collect(Collectors.toSet()),
                        "nft lists the task's forwards as added: " + taskId);
            }

            List<Future<?>> detaches = new ArrayList<>();
            for (Attachment attachment : attachments) {
                detaches.add(pool.submit(() -> {
                    manager.detach(attachment.teardown());
                    return null;
                }));
            }
            for (Future<?> f : detaches) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(), tapsInNamespace());
        assertEquals(List.of(), new NftGuestFilter(ns.runner()).pins());
        List<SavedRule> left = IptablesSave.ourRules(save());
        assertEquals(7, left.size(), "only the pool rules remain: " + left);
        assertTrue(left.stream().allMatch(r -> r.comment().orElse("").equals(IptablesRules.POOL_COMMENT)));
        assertEquals(List.of(), new NftForwards(ns.runner()).list(), "both nft maps are empty after the detaches");
        assertEquals(List.of(), new Ipam(settings).leases());
    }

    /** {@code /sys/class/net/<tap>/<file>} of every tap, read inside the namespace in one command. */
    private Map<String, String> sysfs(String file) {
        Pattern line = Pattern.compile("/sys/class/net/([^/]+)/" + file + ":(.*)");
        String out = ns.run("sh", "-c", "grep -H . /sys/class/net/mg*/" + file);
        Map<String, String> values = new java.util.HashMap<>();
        for (String l : out.split("\n")) {
            Matcher m = line.matcher(l);
            if (m.matches()) {
                values.put(m.group(1), m.group(2).strip());
            }
        }
        return values;
    }

    @Test
    void attachFailingOnTheSecondDeviceLeavesNothing() throws Exception {
        manager.ensureHostSetup();
        List<PortForward> web = List.of(PortForward.anyAddress("http", 8080, 80));
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> manager.attach("t-bad-ip", UID, GID, List.of(DeviceRequest.pooled("service", web),
                        new DeviceRequest("admin", Optional.empty(), Optional.of("192.0.2.7"), List.of()))));
        assertTrue(e.getMessage().contains("outside the node's subnet"), e.getMessage());
        assertLeftNothing("t-bad-ip");

        String collision = TapNames.forDevice("t-collide", "admin");
        ns.run("ip", "tuntap", "add", "dev", collision, "mode", "tap");
        NetworkSetupException busy = assertThrows(NetworkSetupException.class,
                () -> manager.attach("t-collide", UID, GID, List.of(DeviceRequest.pooled("service", web),
                        DeviceRequest.pooled("admin", List.of()))));
        assertTrue(busy.getMessage().contains("ip tuntap add dev " + collision), busy.getMessage());
        assertTrue(busy.getMessage().contains("already exists"), busy.getMessage());
        assertLeftNothing("t-collide");
        assertEquals(List.of(collision), tapsInNamespace(), "the tap the attach did not create stays");
    }

    private void assertLeftNothing(String taskId) throws Exception {
        assertEquals(List.of(), rulesOf(taskId));
        assertEquals(List.of(), new NftForwards(ns.runner()).list(), "a forward of " + taskId + " is left");
        assertEquals(List.of(), new NftGuestFilter(ns.runner()).pins());
        assertTrue(new Ipam(settings).leases().stream().noneMatch(l -> l.taskId().equals(taskId)));
        for (String tap : tapsInNamespace()) {
            assertFalse(tap.equals(TapNames.forDevice(taskId, "service")), tap);
        }
    }

    @Test
    void reconcileRemovesOrphansAndKeepsListedTasks() throws Exception {
        manager.ensureHostSetup();
        Attachment keep = manager.attach("t-keep", UID, GID,
                List.of(DeviceRequest.pooled("service", List.of(PortForward.anyAddress("http", 8080, 80)))));
        Attachment gone = manager.attach("t-gone", UID, GID,
                List.of(DeviceRequest.pooled("service", List.of(PortForward.anyAddress("http", 8081, 80)))));
        ns.run("ip", "tuntap", "add", "dev", "mgzzzzzzzzzzzzz", "mode", "tap");
        ns.run("ip", "tuntap", "add", "dev", "mgmt0", "mode", "tap");
        ns.run("iptables", "-t", "nat", "-A", "NOMAD_MG_PRE", "-p", "tcp", "--dport", "9999",
                "-m", "comment", "--comment", "mirage:ghost/web/1", "-j", "RETURN");
        Pin ghost = new Pin("mgzzzzzzzzzzzzz", "00:80:41:00:00:77", "10.99.0.77");
        NftGuestFilter filter = new NftGuestFilter(ns.runner());
        filter.pin(List.of(ghost));
        // A forward on one host address to a guest address nobody leases (as a failed release would leave).
        ns.run("nft", "add element ip nomad_mirage fwd_addr { 10.99.0.1 . tcp . 9998 : 10.99.0.77 . 80 }");
        NftForwards nft = new NftForwards(ns.runner());
        String keepIp = keep.devices().getFirst().ip();
        String goneIp = gone.devices().getFirst().ip();
        assertEquals(Set.of(new MapForward("", "tcp", 8080, keepIp, 80), new MapForward("", "udp", 8080, keepIp, 80),
                new MapForward("", "tcp", 8081, goneIp, 80), new MapForward("", "udp", 8081, goneIp, 80),
                new MapForward("10.99.0.1", "tcp", 9998, "10.99.0.77", 80)), Set.copyOf(nft.list()));

        NetworkStatus before = manager.status();
        assertEquals(List.of("mgzzzzzzzzzzzzz"), before.orphanTaps());
        assertEquals(Set.of("nat: -A NOMAD_MG_PRE -p tcp -m tcp --dport 9999 -m comment --comment \"mirage:ghost/web/1\" -j RETURN",
                "nft fwd_addr 10.99.0.1 . tcp . 9998 : 10.99.0.77 . 80"), Set.copyOf(before.orphanRules()));
        assertEquals(Set.of("nft fwd_local tcp . 8081 : " + goneIp + " . 80", "nft fwd_local udp . 8081 : " + goneIp + " . 80"),
                Set.copyOf(before.tasks().stream().filter(t -> t.taskId().equals("t-gone")).findFirst().orElseThrow().rules()));
        assertEquals(List.of("t-gone", "t-keep"), before.tasks().stream().map(TaskNetwork::taskId).toList());

        ReconcileReport report = manager.reconcile(Set.of("t-keep"));
        assertEquals(Set.of("mgzzzzzzzzzzzzz", TapNames.forDevice("t-gone", "service")), Set.copyOf(report.removedTaps()));
        assertEquals(Set.of("nat: -A NOMAD_MG_PRE -p tcp -m tcp --dport 9999 -m comment --comment \"mirage:ghost/web/1\" -j RETURN",
                "nft fwd_addr 10.99.0.1 . tcp . 9998 : 10.99.0.77 . 80", "nft fwd_local tcp . 8081 : " + goneIp + " . 80",
                "nft fwd_local udp . 8081 : " + goneIp + " . 80"), Set.copyOf(report.removedRules()));
        assertEquals(4, report.removedRules().size(), report.removedRules().toString());
        assertEquals(List.of("t-gone"), report.releasedLeases().stream().map(Lease::taskId).toList());
        assertEquals(Set.of(ghost.tap(), TapNames.forDevice("t-gone", "service")),
                report.removedPins().stream().map(Pin::tap).collect(Collectors.toSet()));
        DeviceAttachment keptDevice = keep.devices().getFirst();
        assertEquals(List.of(new Pin(keptDevice.tap(), keptDevice.mac(), keptDevice.ip())), filter.pins());
        assertEquals(List.of(), report.problems());

        assertEquals(Set.of(keep.devices().getFirst().tap(), "mgmt0"), Set.copyOf(tapsInNamespace()));
        assertEquals(List.of(), rulesOf("t-keep"), "forwards are map elements, not rules");
        assertEquals(Set.of(new MapForward("", "tcp", 8080, keepIp, 80), new MapForward("", "udp", 8080, keepIp, 80)),
                Set.copyOf(nft.list()), "only the kept task's forwards remain");
        NetworkStatus after = manager.status();
        assertEquals(List.of(), after.orphanTaps());
        assertEquals(List.of(), after.orphanRules());
        TaskNetwork kept = after.tasks().getFirst();
        assertEquals("t-keep", kept.taskId());
        assertEquals(List.of(), kept.missingTaps());
        assertEquals(Set.of("nft fwd_local tcp . 8080 : " + keepIp + " . 80", "nft fwd_local udp . 8080 : " + keepIp + " . 80"),
                Set.copyOf(kept.rules()));
    }

    @Test
    void udpToLoopbackIsDnatedByTheMapElement() throws Exception {
        manager.ensureHostSetup();
        Attachment attachment = manager.attach("t-udp", UID, GID,
                List.of(DeviceRequest.pooled("service", List.of(PortForward.anyAddress("echo", 8080, 7)))));
        String ip = attachment.devices().getFirst().ip();
        assertEquals(Set.of(new MapForward("", "tcp", 8080, ip, 7), new MapForward("", "udp", 8080, ip, 7)),
                Set.copyOf(new NftForwards(ns.runner()).list()));
        ns.run("python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                + "s.sendto(b'ping', ('127.0.0.1', 8080))");
        // The namespace's connection tracking tells how the datagram was translated: the reply is expected
        // from the guest's port 7, to the bridge address (the pool's MASQUERADE of 127.0.0.0/8).
        List<String> tracked = conntrack(8080);
        assertEquals(1, tracked.size(), "one tracked connection to port 8080: " + tracked);
        String entry = tracked.getFirst();
        assertTrue(entry.matches("ipv4\\s+2\\s+udp\\s+17\\s.*"), entry);
        assertTrue(entry.contains(" src=127.0.0.1 dst=127.0.0.1 "), entry);
        assertTrue(entry.matches(".* src=" + Pattern.quote(ip) + " dst=10\\.99\\.0\\.1 sport=7 dport=\\d+ .*"),
                "DNATed to " + ip + ":7 and masqueraded to the bridge address: " + entry);
    }

    /** The namespace's tracked connections whose original destination port is {@code port}. */
    private List<String> conntrack(int port) throws Exception {
        TestEnv.require(ns.exec("test", "-r", "/proc/net/nf_conntrack").succeeded(),
                "/proc/net/nf_conntrack is missing (nf_conntrack without procfs): NAT of a datagram is unobservable");
        return ns.run("cat", "/proc/net/nf_conntrack").lines()
                .filter(l -> l.matches(".*? dport=" + port + " .*")).toList();
    }

    private static long packets(String saveWithCounters, String chain, String... parts) {
        Pattern counter = Pattern.compile("^\\[(\\d+):\\d+\\] -A " + chain + " (.*)$");
        long total = 0;
        for (String line : saveWithCounters.split("\n")) {
            Matcher m = counter.matcher(line);
            if (m.matches() && Arrays.stream(parts).allMatch(m.group(2)::contains)) {
                total += Long.parseLong(m.group(1));
            }
        }
        return total;
    }

    /**
     * A namespace stands in for the guest (a veth on the bridge with the leased
     * address and an echo server on port 7), so real TCP and UDP go through the
     * forwards: from 127.0.0.1 and from the bridge address on the host, and from the
     * guest to its own published port through the host (hairpin).
     */
    @ParameterizedTest(name = "bridge-nf-call-iptables={0}")
    @ValueSource(strings = {"0", "1"})
    void forwardsCarryTrafficToAGuest(String bridgeNetfilter) throws Exception {
        // Hosts differ in whether br_netfilter runs bridged frames through iptables; both must work.
        // Without br_netfilter bridged frames never pass iptables, which is what "0" sets, so that case
        // runs anyway; "1" needs the module (loading it is the host's business, not a test's).
        boolean brNetfilter = ns.exec("test", "-e", "/proc/sys/net/bridge/bridge-nf-call-iptables").succeeded();
        if (brNetfilter) {
            ns.run("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=" + bridgeNetfilter);
        } else {
            TestEnv.require(bridgeNetfilter.equals("0"),
                    "br_netfilter is not loaded (modprobe br_netfilter): bridged traffic through iptables is untested");
        }
        manager.ensureHostSetup();
        Attachment attachment = manager.attach("t-echo", UID, GID,
                List.of(DeviceRequest.pooled("service", List.of(PortForward.anyAddress("echo", 8080, 7)))));
        DeviceAttachment device = attachment.devices().getFirst();

        Netns guest = guestFor(device);
        Process server = guest.start("python3", "-u", "-c", ECHO_SERVER);
        BufferedReader serverOut = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("ready", serverOut.readLine());

        assertEquals("tcp hi from 10.99.0.1", ns.run("python3", "-c", client("127.0.0.1")).strip().split("\n")[0]);
        assertEquals("udp hi from 10.99.0.1", ns.run("python3", "-c", client("127.0.0.1")).strip().split("\n")[1]);
        assertEquals("tcp hi from 10.99.0.1", ns.run("python3", "-c", client(device.gateway())).strip().split("\n")[0]);
        assertEquals("tcp hi from 10.99.0.1", guest.run("python3", "-c", client(device.gateway())).strip().split("\n")[0],
                "hairpin: the guest reaches its own forward through the host");

        manager.detach(attachment.teardown());
        assertEquals(List.of(), new NftForwards(ns.runner()).list(), "no forward after detach");
        assertTrue(ns.exec("python3", "-c", client("127.0.0.1")).exitCode() != 0, "no traffic after detach");
    }

    /** A namespace on the bridge through a veth, configured as the guest of {@code device} would be. */
    private Netns guestFor(DeviceAttachment device) throws Exception {
        Netns guest = Netns.create();
        guests.add(guest);
        ns.run("ip", "link", "add", "mgtestveth", "type", "veth", "peer", "name", "eth0", "netns", guest.name());
        ns.run("ip", "link", "set", "dev", "mgtestveth", "master", BRIDGE, "up");
        ns.run("ip", "link", "set", "dev", "mgtestveth", "type", "bridge_slave", "hairpin", "on"); // as on our taps
        guest.run("ip", "addr", "add", device.cidr(), "dev", "eth0");
        guest.run("ip", "link", "set", "dev", "eth0", "address", device.mac(), "up");
        guest.run("ip", "route", "add", "default", "via", device.gateway());
        return guest;
    }

    /**
     * route_localnet on the bridge would let a guest (which writes raw frames) reach services
     * the host binds to 127.0.0.1; the pool's INPUT rule must stop that.
     */
    @Test
    void guestsCannotReachTheHostsLoopbackServices() throws Exception {
        manager.ensureHostSetup();
        Attachment attachment = manager.attach("t-probe", UID, GID, List.of(DeviceRequest.pooled("service", List.of())));
        Netns guest = guestFor(attachment.devices().getFirst());
        // Make the guest send 127.0.0.1 out of eth0, as a unikernel could.
        guest.run("ip", "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local");
        guest.run("ip", "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local");
        guest.run("sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1");
        guest.run("sysctl", "-q", "-w", "net.ipv4.conf.eth0.route_localnet=1");
        guest.run("ip", "route", "add", "127.0.0.0/8", "via", attachment.devices().getFirst().gateway(), "dev", "eth0",
                "onlink");
        Process listener = ns.start("python3", "-u", "-c", """
                import socket
                s = socket.socket(); s.bind(('127.0.0.1', 9999)); s.listen(); s.settimeout(3)
                print('ready')
                try:
                    s.accept(); print('reached')
                except OSError:
                    print('not reached')
                """);
        BufferedReader out = new BufferedReader(new InputStreamReader(listener.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("ready", out.readLine());
        assertTrue(guest.exec("python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 9999), timeout=2)")
                .exitCode() != 0);
        assertEquals("not reached", out.readLine());
        String counted = ns.run("iptables-save", "-c", "-t", "filter");
        assertTrue(packets(counted, "NOMAD_MG_IN", "-d 127.0.0.0/8", "-j DROP") >= 1, counted);
    }

    private static final String ECHO_SERVER = """
            import socket, threading
            def tcp(s):
                while True:
                    c, a = s.accept()
                    c.sendall(b'tcp ' + c.recv(100) + b' from ' + a[0].encode())
                    c.close()
            t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('0.0.0.0', 7)); t.listen()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 7))
            threading.Thread(target=tcp, args=(t,), daemon=True).start()
            print('ready')
            while True:
                d, a = u.recvfrom(100)
                u.sendto(b'udp ' + d + b' from ' + a[0].encode(), a)
            """;

    private static String client(String host) {
        return """
                import socket
                s = socket.create_connection(('%1$s', 8080), timeout=3); s.sendall(b'hi'); print(s.recv(100).decode())
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.sendto(b'hi', ('%1$s', 8080))
                print(u.recvfrom(100)[0].decode())
                """.formatted(host);
    }
}
