package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import nomadmirage.config.Ipv4Cidr;
import org.junit.jupiter.api.Test;

class NftGuestFilterTest {
    private static final Ipv4Cidr SUBNET = Ipv4Cidr.parse("10.99.0.0/16");
    private static final Pin A = new Pin("mgaaaaaaaaaaaaa", "00:80:41:00:00:01", "10.99.0.2");
    private static final Pin B = new Pin("mgbbbbbbbbbbbbb", "00:80:41:00:00:02", "10.99.0.3");

    private final RecordingRunner runner = new RecordingRunner();
    private final NftGuestFilter filter = new NftGuestFilter(runner);

    @Test
    void setupDropsLinkLocalAndEverythingUnpinnedFromOurTapsOnly() {
        String batch = NftGuestFilter.setup(SUBNET, false);
        List<String> guests = batch.lines().filter(l -> l.startsWith("add rule bridge nomad_mirage guests ")).toList();
        assertEquals(List.of(
                "add rule bridge nomad_mirage guests iifname != @taps accept",
                "add rule bridge nomad_mirage guests ip daddr 169.254.0.0/16 counter drop",
                "add rule bridge nomad_mirage guests iifname . ether saddr . ip saddr @ip_pins accept",
                "add rule bridge nomad_mirage guests iifname . ether saddr . arp saddr ether . arp saddr ip @arp_pins accept",
                "add rule bridge nomad_mirage guests counter drop"), guests);
        assertTrue(batch.contains("flush chain bridge nomad_mirage guests\n"), "rules are replaced, not appended again");
        assertTrue(batch.contains("flush chain bridge nomad_mirage isolation\n"), "turning isolation off empties its chain");
        assertTrue(batch.lines().noneMatch(l -> l.startsWith("add rule bridge nomad_mirage isolation")), batch);
    }

    @Test
    void isolationDropsTrafficToTheSubnetButTheGatewayAndTapToTapFramesButPublishedPorts() {
        String batch = NftGuestFilter.setup(SUBNET, true);
        assertTrue(batch.contains("add rule bridge nomad_mirage guests ip daddr 10.99.0.0/16 ip daddr != 10.99.0.1 "
                + "counter drop\nadd rule bridge nomad_mirage guests iifname . ether saddr"), "before the pinned accepts:\n" + batch);
        assertEquals(List.of(
                "add rule bridge nomad_mirage isolation iifname @taps oifname @taps ip daddr 10.99.0.0/16 ip daddr != 10.99.0.1 accept",
                "add rule bridge nomad_mirage isolation iifname @taps oifname @taps counter drop"),
                batch.lines().filter(l -> l.startsWith("add rule bridge nomad_mirage isolation")).toList());
    }

    @Test
    void pinningIsOneCommandForAllTaps() throws Exception {
        filter.pin(List.of(A, B));
        assertEquals(List.of("nft "
                + "add element bridge nomad_mirage taps { \"mgaaaaaaaaaaaaa\", \"mgbbbbbbbbbbbbb\" }\n"
                + "add element bridge nomad_mirage ip_pins { \"mgaaaaaaaaaaaaa\" . 00:80:41:00:00:01 . 10.99.0.2, "
                + "\"mgbbbbbbbbbbbbb\" . 00:80:41:00:00:02 . 10.99.0.3 }\n"
                + "add element bridge nomad_mirage arp_pins { \"mgaaaaaaaaaaaaa\" . 00:80:41:00:00:01 . 00:80:41:00:00:01 . 10.99.0.2, "
                + "\"mgbbbbbbbbbbbbb\" . 00:80:41:00:00:02 . 00:80:41:00:00:02 . 10.99.0.3 }\n"), runner.commands);
        filter.pin(List.of());
        filter.unpin(List.of());
        assertEquals(1, runner.commands.size(), "nothing to change runs nothing");
    }

    @Test
    void unpinningAddsBeforeDeletingSoAMissingPinIsNoError() throws Exception {
        filter.unpin(List.of(A));
        String batch = runner.commands.getFirst();
        assertTrue(batch.indexOf("add element bridge nomad_mirage arp_pins") < batch.indexOf("delete element bridge nomad_mirage taps"),
                batch);
        assertTrue(batch.endsWith("delete element bridge nomad_mirage arp_pins { \"mgaaaaaaaaaaaaa\" . 00:80:41:00:00:01 . "
                + "00:80:41:00:00:01 . 10.99.0.2 }\n"), batch);
    }

    @Test
    void unpinningWithoutOurTableIsNothingToDoButOtherFailuresAreErrors() throws Exception {
        runner.answer("nft add element", 1, "", "Error: No such file or directory\n");
        runner.answer("nft list tables bridge", 0, "table bridge other\n", "");
        filter.unpin(List.of(A));

        RecordingRunner withTable = new RecordingRunner()
                .answer("nft add element", 1, "", "Error: Could not process rule: Device or resource busy\n")
                .answer("nft list tables bridge", 0, "table bridge nomad_mirage\n", "");
        NetworkSetupException e = assertThrows(NetworkSetupException.class,
                () -> new NftGuestFilter(withTable).unpin(List.of(A)));
        assertTrue(e.getMessage().contains("Device or resource busy"), e.getMessage());
    }

    @Test
    void pinsAreReadFromTheSetAndNoneWithoutOurTable() throws Exception {
        runner.answer("nft -j list set bridge nomad_mirage ip_pins", 0, """
                {"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}, {"set": {"family": "bridge", \
                "name": "ip_pins", "table": "nomad_mirage", "type": ["ifname", "ether_addr", "ipv4_addr"], "handle": 2, \
                "elem": [{"concat": ["mgaaaaaaaaaaaaa", "00:80:41:00:00:01", "10.99.0.2"]}, \
                {"concat": ["mgbbbbbbbbbbbbb", "00:80:41:00:00:02", "10.99.0.3"]}]}}]}
                """, "");
        assertEquals(List.of(A, B), filter.pins());
        assertEquals(List.of(), NftGuestFilter.parsePins("{\"nftables\": [{\"set\": {\"name\": \"ip_pins\"}}]}"));

        RecordingRunner absent = new RecordingRunner()
                .answer("nft -j list set", 1, "", "Error: No such file or directory\n")
                .answer("nft list tables bridge", 0, "", "");
        assertEquals(List.of(), new NftGuestFilter(absent).pins());
    }

    @Test
    void aPartialListingOfPinsIsRefused() {
        runner.answerTruncated("nft -j list set", "{\"nftables\": [");
        NetworkSetupException e = assertThrows(NetworkSetupException.class, filter::pins);
        assertTrue(e.getMessage().contains("partial listing"), e.getMessage());
        assertEquals(HostCommands.LISTING_MAX_OUTPUT_BYTES, runner.bounds.get("nft -j list set bridge nomad_mirage ip_pins"));
    }

    @Test
    void aMissingNftIsNamed() {
        NftGuestFilter noNft = new NftGuestFilter((argv, timeout) -> {
            throw new java.io.IOException("Cannot run program \"nft\": error=2, No such file or directory");
        });
        NetworkSetupException e = assertThrows(NetworkSetupException.class, () -> noNft.pin(List.of(A)));
        assertTrue(e.getMessage().startsWith("cannot run nft, which pins guests to their addresses on the bridge "
                + "(install nftables): Cannot run program \"nft\""), e.getMessage());
    }

    @Test
    void onlyPlainTapMacAndAddressValuesReachAnNftCommand() {
        for (String[] bad : new String[][] {{"mg\"; flush ruleset", "00:80:41:00:00:01", "10.99.0.2"},
                {"mgaaaaaaaaaaaaa", "00:80:41:00:00:0G", "10.99.0.2"}, {"mgaaaaaaaaaaaaa", "00:80:41:00:00:01", "10.99.0.2 }"},
                {"mgaaaaaaaaaaaaa", "00:80:41:00:00:01", ""}}) {
            assertThrows(IllegalArgumentException.class, () -> new Pin(bad[0], bad[1], bad[2]), String.join(" ", bad));
        }
    }
}
