package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.proc.ProcessCommandRunner;
import nomadmirage.testing.Netns;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Group ("bridge") mode against real namespaces: an "allocation" namespace made as Nomad's CNI bridge
 * leaves it (eth0 with 172.26.64.2/20 and a default route via 172.26.64.1, on a veth whose other end is in
 * an "outside" namespace standing for the node), and a guest on the task's tap (TapGuest). Every traffic
 * path the driver sets up is exercised with real datagrams; nothing is made in the host's namespace.
 */
@Tag("root")
@Tag("netns")
class GroupNetworkIT {
    private static final OptionalInt UID = OptionalInt.of(4242);
    private static final OptionalInt GID = OptionalInt.of(4343);
    private static final String TASK = "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/web/5e6f7a8b";

    @TempDir
    Path stateDir;

    private Netns alloc;
    private Netns outside;
    private GroupNetwork group;
    private final ByteArrayOutputStream logged = new ByteArrayOutputStream();
    private LogSink sink;

    @BeforeEach
    void setUp() throws Exception {
        alloc = Netns.create();
        outside = Netns.create();
        alloc.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "mgnode0");
        alloc.run("ip", "link", "set", "mgnode0", "netns", outside.name());
        alloc.run("ip", "addr", "add", "172.26.64.2/20", "dev", "eth0");
        alloc.run("ip", "link", "set", "eth0", "up");
        alloc.run("ip", "route", "add", "default", "via", "172.26.64.1");
        outside.run("ip", "addr", "add", "172.26.64.1/20", "dev", "mgnode0");
        outside.run("ip", "link", "set", "mgnode0", "up");
        sink = new LogSink(logged);
        group = new GroupNetwork(new ProcessCommandRunner(), stateDir, "00:80:41", 1500,
                Logger.root("test", sink, LogLevel.INFO));
    }

    @AfterEach
    void tearDown() throws Exception {
        sink.close();
        try {
            if (alloc != null) {
                alloc.close();
            }
        } finally {
            if (outside != null) {
                outside.close();
            }
        }
    }

    private Path path(Netns ns) {
        return Path.of("/run/netns/" + ns.name());
    }

    private Attachment attachEcho() throws Exception {
        return group.attach(path(alloc), TASK, UID, GID,
                List.of(DeviceRequest.pooled("service", List.of(new PortForward("echo", 27451, 7, ""),
                        new PortForward("connect-proxy-echo", 28000, 28000, ""),
                        new PortForward("svc_echo_ck_0a1b2c", 28001, 28001, "")))));
    }

    private List<String> ourRules(Netns ns) {
        return ns.run("iptables-save").lines().filter(l -> l.contains(IptablesRules.comment(TASK))).toList();
    }

    /** A one-shot UDP listener in {@code ns}; prints "SRC PAYLOAD" for the first datagram. */
    private ProcessLines listen(Netns ns, String ip, int port) throws Exception {
        ProcessLines lines = new ProcessLines("listener " + ip + ":" + port, ns.start("python3", "-u", "-c",
                "import socket, sys\n"
                        + "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                        + "s.bind((sys.argv[1], int(sys.argv[2])))\n"
                        + "print('listening', flush=True)\n"
                        + "data, src = s.recvfrom(2048)\n"
                        + "print('got', src[0], data.decode(), flush=True)\n", ip, Integer.toString(port)));
        lines.await("listening");
        return lines;
    }

    private static void send(Netns ns, String ip, int port, String payload) {
        ns.run("python3", "-c", "import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                + ".sendto(sys.argv[1].encode(), (sys.argv[2], int(sys.argv[3])))", payload, ip, Integer.toString(port));
    }

    @Test
    void theTapLivesInTheAllocationsNamespaceOnAPrivateLink() throws Exception {
        DeviceAttachment device = attachEcho().devices().getFirst();
        assertEquals("169.254.1.2", device.ip());
        assertEquals("169.254.1.1", device.gateway());
        assertEquals("169.254.1.2/30", device.cidr());
        assertEquals(TapNames.forDevice(TASK, "service"), device.tap());
        String link = alloc.run("ip", "-d", "-o", "link", "show", "dev", device.tap());
        assertTrue(link.contains("tun type tap") && link.contains("user 4242") && link.contains("group 4343"), link);
        assertTrue(alloc.run("ip", "-4", "-o", "addr", "show", "dev", device.tap()).contains("inet 169.254.1.1/30"));
        assertEquals("1", alloc.run("sysctl", "-n", "net.ipv4.ip_forward").strip());
        assertEquals("1", alloc.run("sysctl", "-n", "net.ipv4.conf." + device.tap() + ".route_localnet").strip());
        assertFalse(new ProcessCommandRunner().run(List.of("ip", "link", "show", "dev", device.tap()),
                java.time.Duration.ofSeconds(10)).succeeded(), "nothing of the task in the host's namespace");
        List<String> rules = ourRules(alloc);
        assertTrue(rules.stream().noneMatch(r -> r.contains("28000") || r.contains("28001")),
                "Connect's own ports (its public listener, an exposed check) are not forwarded: " + rules);
        assertEquals(2 * 2 + 2 + 2 + 2, rules.size(), "DNAT tcp/udp from eth0 and from 127.0.0.1, upstream DNAT "
                + "tcp/udp, SNAT and MASQUERADE, two anti-spoofing drops: " + rules);
    }

    @Test
    void everyTrafficPathReachesItsEnd() throws Exception {
        DeviceAttachment device = attachEcho().devices().getFirst();
        TapGuest guest = TapGuest.open(alloc, device);
        String gatewayMac = alloc.run("cat", "/sys/class/net/" + device.tap() + "/address").strip();

        // The node's port mapping brings the host port to the allocation's address at `to`: from outside.
        send(outside, "172.26.64.2", 7, "from-outside");
        assertEquals("udp 172.26.64.1 169.254.1.2 from-outside", guest.await("udp"), "the client's address is kept");
        // A Connect sidecar's default: 127.0.0.1:<to> inside the allocation.
        send(alloc, "127.0.0.1", 7, "from-localhost");
        assertEquals("udp 169.254.1.1 169.254.1.2 from-localhost", guest.await("udp"));

        // The unikernel reaches a listener on 127.0.0.1 in the allocation (an upstream) through its gateway.
        ProcessLines upstream = listen(alloc, "127.0.0.1", 9192);
        guest.sendOwnUdp(gatewayMac, "169.254.1.1", 9192, "to-upstream");
        assertEquals("got 169.254.1.2 to-upstream", upstream.await("got"));

        // Its egress leaves as the allocation's address; a forged source never leaves.
        ProcessLines node = listen(outside, "172.26.64.1", 9300);
        guest.sendUdp(device.mac(), gatewayMac, "169.254.1.77", "172.26.64.1", 9300, "forged");
        guest.sendOwnUdp(gatewayMac, "172.26.64.1", 9300, "egress");
        assertEquals("got 172.26.64.2 egress", node.await("got"), "masqueraded, and the forged one was dropped first");
    }

    @Test
    void aSecondStartInTheSameAllocationReplacesWhatTheFirstLeftAndDetachRemovesAll() throws Exception {
        attachEcho();
        DeviceAttachment again = attachEcho().devices().getFirst();
        assertEquals("169.254.1.2", again.ip(), "the same link again: the leftover went first");
        assertEquals(10, ourRules(alloc).size(), "no rule twice");
        Attachment other = group.attach(path(alloc), "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/db/11112222", UID, GID,
                List.of(DeviceRequest.pooled("service", List.of())));
        assertEquals("169.254.1.6", other.devices().getFirst().ip(), "another task of the group gets the next /30");

        group.detach(path(alloc), new NetworkTeardown(TASK, List.of(again.tap()), List.of(again.ip())));
        assertEquals(List.of(), ourRules(alloc));
        assertFalse(alloc.exec("ip", "link", "show", "dev", again.tap()).succeeded());
        assertTrue(alloc.exec("ip", "link", "show", "dev", other.devices().getFirst().tap()).succeeded(),
                "the other task's tap stays");
    }

    @Test
    void aNamespaceThatIsGoneLeavesNothingToDetach() throws Exception {
        Attachment attachment = attachEcho();
        Path gone = path(alloc);
        alloc.close();
        alloc = null;
        assertFalse(Files.exists(gone));
        group.detach(gone, attachment.teardown());
    }

    @Test
    void refusals() throws Exception {
        Path file = Files.createFile(stateDir.resolve("not-a-namespace"));
        NetworkSetupException notNs = assertThrows(NetworkSetupException.class, () -> group.attach(file, TASK, UID, GID,
                List.of(DeviceRequest.pooled("service", List.of()))));
        assertTrue(notNs.getMessage().contains("is not a network namespace"), notNs.getMessage());

        Path link = Files.createSymbolicLink(stateDir.resolve("link"), path(alloc));
        NetworkSetupException viaLink = assertThrows(NetworkSetupException.class, () -> group.attach(link, TASK, UID,
                GID, List.of(DeviceRequest.pooled("service", List.of()))));
        assertTrue(viaLink.getMessage().contains("not a link"), viaLink.getMessage());

        InvalidNetworkRequestException fixed = assertThrows(InvalidNetworkRequestException.class,
                () -> group.attach(path(alloc), TASK, UID, GID, List.of(new DeviceRequest("service",
                        java.util.Optional.empty(), java.util.Optional.of("169.254.9.9"), List.of()))));
        assertEquals("address", fixed.field());

        try (Netns none = Netns.create()) {
            NetworkSetupException noRoute = assertThrows(NetworkSetupException.class, () -> group.attach(path(none),
                    TASK, UID, GID, List.of(DeviceRequest.pooled("service", List.of()))));
            assertTrue(noRoute.getMessage().contains("has no IPv4 default route"), noRoute.getMessage());
            assertEquals("lo", none.run("ls", "/sys/class/net").strip(), "the failed attach left nothing");
        }
        assertEquals(List.of(), ourRules(alloc));
    }
}
