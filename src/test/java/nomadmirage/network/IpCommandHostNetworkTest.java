package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.OptionalInt;
import nomadmirage.config.Ipv4Cidr;
import org.junit.jupiter.api.Test;

class IpCommandHostNetworkTest {
    private final RecordingRunner runner = new RecordingRunner();
    private final IpCommandHostNetwork host = new IpCommandHostNetwork(runner);

    @Test
    void tapIsOwnedByTheTaskUserAndJoinsTheBridge() throws Exception {
        host.createTap("mgaaaaaaaaaaaaa", "mirage0", 1400, OptionalInt.of(1000), OptionalInt.of(100));
        assertEquals(List.of(
                "ip tuntap add dev mgaaaaaaaaaaaaa mode tap user 1000 group 100",
                "ip link set dev mgaaaaaaaaaaaaa mtu 1400 master mirage0 up",
                "ip link set dev mgaaaaaaaaaaaaa type bridge_slave hairpin on"), runner.commands);
    }

    @Test
    void tapWithoutUserBelongsToRoot() throws Exception {
        host.createTap("mgaaaaaaaaaaaaa", "mirage0", 1500, OptionalInt.empty(), OptionalInt.empty());
        assertEquals("ip tuntap add dev mgaaaaaaaaaaaaa mode tap", runner.commands.getFirst());
    }

    @Test
    void existingTapIsAClearErrorQuotingStderr() {
        runner.answer("ip tuntap add", 1, "", "ioctl(TUNSETIFF): Device or resource busy\n");
        NetworkSetupException e = assertThrows(NetworkSetupException.class,
                () -> host.createTap("mgaaaaaaaaaaaaa", "mirage0", 1500, OptionalInt.empty(), OptionalInt.empty()));
        assertEquals("network command failed: ip tuntap add dev mgaaaaaaaaaaaaa mode tap: exited 1: "
                + "ioctl(TUNSETIFF): Device or resource busy (a link named mgaaaaaaaaaaaaa already exists)", e.getMessage());
    }

    @Test
    void tapThatCannotJoinTheBridgeIsDeletedAgain() {
        runner.answer("ip link set dev mgaaaaaaaaaaaaa", 1, "", "Cannot find device \"mirage0\"");
        assertThrows(NetworkSetupException.class,
                () -> host.createTap("mgaaaaaaaaaaaaa", "mirage0", 1500, OptionalInt.empty(), OptionalInt.empty()));
        assertEquals("ip link del dev mgaaaaaaaaaaaaa", runner.commands.getLast());
    }

    @Test
    void deletingAMissingTapIsNotAnError() throws Exception {
        runner.answer("ip link del", 1, "", "Cannot find device \"mgaaaaaaaaaaaaa\"");
        assertFalse(host.deleteTap("mgaaaaaaaaaaaaa"));
    }

    @Test
    void otherDeleteFailuresAreErrors() {
        runner.answer("ip link del", 2, "", "RTNETLINK answers: Operation not permitted");
        NetworkSetupException e = assertThrows(NetworkSetupException.class, () -> host.deleteTap("mgaaaaaaaaaaaaa"));
        assertTrue(e.getMessage().contains("Operation not permitted"), e.getMessage());
    }

    @Test
    void onlyTapsOfOurShapeAreListed() throws Exception {
        runner.answer("ip -o link show type tun", 0, """
                7: mgaaaaaaaaaaaaa: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ether 92:63:d0:cc:a9:a1 brd ff:ff:ff:ff:ff:ff
                8: mgmt0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ether 92:63:d0:cc:a9:a2 brd ff:ff:ff:ff:ff:ff
                9: tap0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ether 92:63:d0:cc:a9:a3 brd ff:ff:ff:ff:ff:ff
                """, "");
        assertEquals(List.of("mgaaaaaaaaaaaaa"), host.taps());
    }

    @Test
    void linkNamesIgnoreThePeerSuffix() {
        assertEquals(List.of("veth0", "lo"), IpCommandHostNetwork.linkNames(
                "3: veth0@if2: <BROADCAST> mtu 1500\n1: lo: <LOOPBACK> mtu 65536\n"));
    }

    @Test
    void bridgeIsCreatedWhenMissingAndGetsOnlyTheGatewayAddress() throws Exception {
        runner.answer("ip link show dev mirage0", 1, "", "Device \"mirage0\" does not exist.")
                .answer("ip -o -4 addr show dev mirage0", 0,
                        "5: mirage0    inet 10.50.0.1/24 brd 10.50.0.255 scope global mirage0\\       valid_lft forever\n", "");
        host.ensureBridge("mirage0", Ipv4Cidr.parse("10.99.0.0/16"), 1500);
        assertEquals(List.of(
                "ip link show dev mirage0",
                "ip link add name mirage0 type bridge",
                "ip link show dev mirage0",
                "ip -o -4 addr show dev mirage0",
                "ip addr del 10.50.0.1/24 dev mirage0",
                "ip addr add 10.99.0.1/16 dev mirage0",
                "ip link set dev mirage0 mtu 1500 up type bridge mcast_snooping 0"), runner.commands);
    }

    @Test
    void bridgeWithTheRightAddressKeepsIt() throws Exception {
        runner.answer("ip -o -4 addr show dev mirage0", 0,
                "5: mirage0    inet 10.99.0.1/16 brd 10.99.255.255 scope global mirage0\\       valid_lft forever\n", "");
        host.ensureBridge("mirage0", Ipv4Cidr.parse("10.99.0.0/16"), 1500);
        assertEquals(List.of("ip link show dev mirage0", "ip -o -4 addr show dev mirage0",
                "ip link set dev mirage0 mtu 1500 up type bridge mcast_snooping 0"), runner.commands);
    }

    @Test
    void bridgeKeepsItsOwnAddressOnceSet() throws Exception {
        // Never set, a bridge's address follows the lowest of its ports': setting it to what it is freezes it.
        runner.answer("ip link show dev mirage0", 0, """
                5: mirage0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000
                    link/ether e2:cb:92:db:36:25 brd ff:ff:ff:ff:ff:ff
                """, "").answer("ip -o -4 addr show dev mirage0", 0,
                "5: mirage0    inet 10.99.0.1/16 brd 10.99.255.255 scope global mirage0\\       valid_lft forever\n", "");
        host.ensureBridge("mirage0", Ipv4Cidr.parse("10.99.0.0/16"), 1500);
        assertEquals(List.of("ip link show dev mirage0", "ip -o -4 addr show dev mirage0",
                "ip link set dev mirage0 address e2:cb:92:db:36:25 mtu 1500 up type bridge mcast_snooping 0"),
                runner.commands);
    }

    @Test
    void sysctlGoesThroughTheRunner() throws Exception {
        host.setSysctl("net.ipv4.ip_forward", "1");
        assertEquals(List.of("sysctl -q -w net.ipv4.ip_forward=1"), runner.commands);
    }

    @Test
    void bridgeExistsAsksIpAndTellsAbsenceFromFailure() throws Exception {
        assertTrue(host.bridgeExists("mirage0"));
        assertEquals(List.of("ip link show dev mirage0"), runner.commands);

        runner.answer("ip link show dev gone0", 1, "", "Device \"gone0\" does not exist.\n");
        assertFalse(host.bridgeExists("gone0"));

        runner.answer("ip link show dev odd0", 255, "", "RTNETLINK answers: Operation not permitted\n");
        assertThrows(NetworkSetupException.class, () -> host.bridgeExists("odd0"));
    }
}
