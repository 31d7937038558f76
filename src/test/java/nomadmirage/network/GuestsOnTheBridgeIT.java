package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.driver.ServiceStartPath;
import nomadmirage.proc.SupervisorService;
import nomadmirage.testing.Netns;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What one guest on the bridge can do to another and to the host, with the real ip, iptables and nft
 * in a namespace the test creates: guests are {@link TapGuest}s on the taps attach made, writing the
 * frames a hostile unikernel could. "Dropped" is shown without waiting for a timeout: the guest sends
 * the forged frame, then a legitimate one, and the receiver's first datagram must be the legitimate one.
 */
@Tag("root")
@Tag("netns")
class GuestsOnTheBridgeIT {
    private static final String BRIDGE = "mirage0";
    private static final Ipv4Cidr SUBNET = Ipv4Cidr.parse("10.99.0.0/16");
    private static final String GATEWAY = "10.99.0.1";
    private static final OptionalInt UID = OptionalInt.of(4242);

    @TempDir
    Path stateDir;

    private Netns ns;
    private final List<Netns> others = new ArrayList<>();
    /** As in production, taps and pins come from the supervisor service (here in the test's namespace). */
    private SupervisorService service;

    @BeforeEach
    void setUp() throws Exception {
        ns = Netns.create();
        Path binary = Path.of(System.getProperty("mirage.supervisor",
                TestEnv.repo().resolve("target/mirage-supervisor").toString()));
        service = new SupervisorService(List.of("ip", "netns", "exec", ns.name(), binary.toString()));
    }

    @AfterEach
    void tearDown() throws Exception {
        service.close();
        try {
            for (Netns other : others) {
                other.close();
            }
        } finally {
            ns.close();
        }
    }

    private NetworkManager manager(boolean isolateTasks) {
        NetworkSettings settings = new NetworkSettings(BRIDGE, SUBNET, NetworkSettings.DEFAULT_MAC_OUI,
                NetworkSettings.DEFAULT_MTU, stateDir, isolateTasks);
        return NetworkManager.overCommands(settings, ns.runner(), new ServiceStartPath(service),
                Logger.root("test", new LogSink(OutputStream.nullOutputStream()), LogLevel.OFF));
    }

    private static DeviceAttachment attach(NetworkManager manager, String taskId, PortForward... forwards)
            throws Exception {
        return manager.attach(taskId, UID, UID, List.of(DeviceRequest.pooled("service", List.of(forwards))))
                .devices().getFirst();
    }

    /** The bridge's MAC, where guests send what leaves their subnet; read once every port has joined. */
    private String gatewayMac() {
        return ns.run("cat", "/sys/class/net/" + BRIDGE + "/address").strip();
    }

    /** A UDP listener in {@code where} that prints {@code from SRC PAYLOAD} for each datagram. */
    private static ProcessLines listen(Netns where, String address, int port) throws Exception {
        ProcessLines lines = new ProcessLines("listener in " + where.name(), where.start("python3", "-u", "-c", """
                import socket, sys
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2])))
                print('ready', flush=True)
                while True:
                    d, a = s.recvfrom(2000)
                    print('from', a[0], d.decode(), flush=True)
                """, address, Integer.toString(port)));
        lines.await("ready");
        return lines;
    }

    private void sendFromHost(String ip, int port, String payload) {
        ns.run("python3", "-c", "import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                + ".sendto(sys.argv[1].encode(), (sys.argv[2], int(sys.argv[3])))", payload, ip, Integer.toString(port));
    }

    @Test
    void aGuestCannotSendWithItsNeighboursAddress() throws Exception {
        NetworkManager manager = manager(false);
        DeviceAttachment a = attach(manager, "t-a");
        DeviceAttachment b = attach(manager, "t-b");
        TapGuest attacker = TapGuest.open(ns, a);
        ProcessLines host = listen(ns, "0.0.0.0", 5000);

        attacker.sendUdp(a.mac(), gatewayMac(), b.ip(), GATEWAY, 5000, "forged-ip");
        attacker.sendOwnUdp(gatewayMac(), GATEWAY, 5000, "own");
        assertEquals("from " + a.ip() + " own", host.await("from"), "the datagram with the neighbour's address got through");
    }

    @Test
    void aGuestAnsweringArpForItsNeighbourDoesNotGetItsTraffic() throws Exception {
        NetworkManager manager = manager(false);
        DeviceAttachment a = attach(manager, "t-a");
        DeviceAttachment b = attach(manager, "t-b");
        TapGuest attacker = TapGuest.open(ns, a);
        ProcessLines host = listen(ns, "0.0.0.0", 5000);
        attacker.impersonate(b.ip());

        sendFromHost(b.ip(), 6000, "for-b");
        attacker.await("answered-arp " + b.ip());
        // Frames of one tap are handled in order: once "own" arrived, the forged ARP reply was handled too.
        attacker.sendOwnUdp(gatewayMac(), GATEWAY, 5000, "own");
        assertEquals("from " + a.ip() + " own", host.await("from"));
        String neighbour = ns.run("ip", "neigh", "show", b.ip(), "dev", BRIDGE);
        assertFalse(neighbour.contains(a.mac()), "the host now sends " + b.ip() + "'s traffic to the attacker: " + neighbour);
    }

    @Test
    void aGuestCannotSendWithAnotherMac() throws Exception {
        NetworkManager manager = manager(false);
        DeviceAttachment a = attach(manager, "t-a");
        DeviceAttachment b = attach(manager, "t-b");
        TapGuest attacker = TapGuest.open(ns, a);
        ProcessLines host = listen(ns, "0.0.0.0", 5000);

        attacker.sendUdp(b.mac(), gatewayMac(), a.ip(), GATEWAY, 5000, "forged-mac");
        attacker.sendOwnUdp(gatewayMac(), GATEWAY, 5000, "own");
        assertEquals("from " + a.ip() + " own", host.await("from"), "the frame with another MAC got through");
        String learned = ns.run("bridge", "fdb", "show", "br", BRIDGE);
        assertFalse(learned.contains(b.mac() + " dev " + a.tap()), "the bridge learned the neighbour's MAC on the "
                + "attacker's port, so it would forward the neighbour's frames there:\n" + learned);
    }

    /** A metadata service beyond the host (as on a cloud VM) at 169.254.169.254, and 192.0.2.10 beside it. */
    @Test
    void aGuestCannotReachLinkLocalAddressesBeyondTheHost() throws Exception {
        NetworkManager manager = manager(false);
        DeviceAttachment a = attach(manager, "t-a");
        Netns cloud = Netns.create();
        others.add(cloud);
        ns.run("ip", "link", "add", "mgmeta0", "type", "veth", "peer", "name", "eth0", "netns", cloud.name());
        ns.run("ip", "addr", "add", "169.254.0.1/16", "dev", "mgmeta0");
        ns.run("ip", "link", "set", "dev", "mgmeta0", "up");
        ns.run("ip", "route", "add", "192.0.2.10/32", "dev", "mgmeta0");
        cloud.run("ip", "addr", "add", "169.254.169.254/16", "dev", "eth0");
        cloud.run("ip", "addr", "add", "192.0.2.10/32", "dev", "eth0");
        cloud.run("ip", "link", "set", "dev", "eth0", "up");
        ProcessLines metadata = listen(cloud, "0.0.0.0", 80);
        TapGuest guest = TapGuest.open(ns, a);

        guest.sendOwnUdp(gatewayMac(), "169.254.169.254", 80, "metadata");
        guest.sendOwnUdp(gatewayMac(), "192.0.2.10", 80, "elsewhere");
        assertEquals("from 169.254.0.1 elsewhere", metadata.await("from"), "the guest reached 169.254.169.254 through the NAT");
    }

    @Test
    void aGuestCannotReachLinkLocalAddressesOfTheHost() throws Exception {
        NetworkManager manager = manager(false);
        DeviceAttachment a = attach(manager, "t-a");
        ns.run("ip", "addr", "add", "169.254.169.254/32", "dev", "lo");
        ProcessLines host = listen(ns, "0.0.0.0", 80);
        TapGuest guest = TapGuest.open(ns, a);

        guest.sendOwnUdp(gatewayMac(), "169.254.169.254", 80, "metadata");
        guest.sendOwnUdp(gatewayMac(), GATEWAY, 80, "gateway");
        assertEquals("from " + a.ip() + " gateway", host.await("from"), "the guest reached the host's 169.254.169.254");
    }

    @Test
    void withoutIsolationGuestsReachEachOtherDirectlyAndThroughTheHost() throws Exception {
        NetworkManager manager = manager(false);
        DeviceAttachment a = attach(manager, "t-a");
        DeviceAttachment b = attach(manager, "t-b");
        TapGuest first = TapGuest.open(ns, a);
        TapGuest second = TapGuest.open(ns, b);

        first.sendOwnUdp(b.mac(), b.ip(), 7000, "direct");
        assertEquals("udp " + a.ip() + " " + b.ip() + " direct", second.await("udp"));
        first.sendOwnUdp(gatewayMac(), b.ip(), 7000, "routed");
        assertEquals("udp " + a.ip() + " " + b.ip() + " routed", second.await("udp"));
    }

    /**
     * With br_netfilter ("1") the host DNATs a guest's traffic to a published port back into the bridge
     * from one port to another, without it ("0") it routes it out of the bridge device: both must work.
     */
    @ParameterizedTest(name = "bridge-nf-call-iptables={0}")
    @ValueSource(strings = {"0", "1"})
    void withIsolationGuestsReachOnlyPublishedPorts(String bridgeNetfilter) throws Exception {
        if (ns.exec("test", "-e", "/proc/sys/net/bridge/bridge-nf-call-iptables").succeeded()) {
            ns.run("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=" + bridgeNetfilter);
        } else {
            TestEnv.require(bridgeNetfilter.equals("0"),
                    "br_netfilter is not loaded (modprobe br_netfilter): bridged DNAT under isolation is untested");
        }
        NetworkManager manager = manager(true);
        DeviceAttachment a = attach(manager, "t-a", PortForward.anyAddress("self", 8081, 7000));
        DeviceAttachment b = attach(manager, "t-b", PortForward.anyAddress("echo", 8080, 7000));
        NftForwards nft = new NftForwards(ns.runner());
        assertEquals(Set.of(new MapForward("", "tcp", 8081, a.ip(), 7000), new MapForward("", "udp", 8081, a.ip(), 7000),
                new MapForward("", "tcp", 8080, b.ip(), 7000), new MapForward("", "udp", 8080, b.ip(), 7000)),
                Set.copyOf(nft.list()), "the supervisor service added the forwards as elements of fwd_local");
        TapGuest first = TapGuest.open(ns, a);
        TapGuest second = TapGuest.open(ns, b);

        first.sendOwnUdp(b.mac(), b.ip(), 7000, "direct");
        first.sendOwnUdp(gatewayMac(), b.ip(), 7000, "routed");
        first.sendUdp(a.mac(), "ff:ff:ff:ff:ff:ff", a.ip(), "255.255.255.255", 7000, "broadcast");
        sendFromHost(b.ip(), 7000, "from-host");
        assertEquals("udp " + GATEWAY + " " + b.ip() + " from-host", second.await("udp"),
                "the other guest got a datagram sent to it directly, through the host or by broadcast");
        for (int i = 0; i < 2; i++) { // the second time the host's neighbour entries are cached
            first.sendOwnUdp(gatewayMac(), GATEWAY, 8080, "published-" + i);
            assertEquals("udp " + GATEWAY + " " + b.ip() + " published-" + i, second.await("udp"),
                    "a published port stays reachable, as from anywhere else");
            first.sendOwnUdp(gatewayMac(), GATEWAY, 8081, "own-port-" + i);
            assertEquals("udp " + GATEWAY + " " + a.ip() + " own-port-" + i, first.await("udp"),
                    "hairpin: a guest reaches its own published port through the host");
        }

        manager.detach(new NetworkTeardown("t-b", List.of(b.tap()), List.of(b.ip())));
        assertEquals(Set.of(new MapForward("", "tcp", 8081, a.ip(), 7000), new MapForward("", "udp", 8081, a.ip(), 7000)),
                Set.copyOf(nft.list()), "the detach of t-b removed its forwards only");
        manager.detach(new NetworkTeardown("t-a", List.of(a.tap()), List.of(a.ip())));
        assertEquals(List.of(), nft.list(), "both maps are empty once both tasks are detached");
    }
}
