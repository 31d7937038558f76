package nomadmirage.network;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/**
 * {@link GuestFilter} as an nftables table of our own in the bridge family, {@value #TABLE}:
 * <ul>
 *   <li>sets {@code taps} (our pinned taps), {@code ip_pins} (tap . MAC . IPv4) and {@code arp_pins}
 *       (tap . MAC . ARP sender MAC . ARP sender IPv4), one element each per tap;</li>
 *   <li>chain {@code guests} on the bridge's prerouting hook: frames of other links pass; from our
 *       taps, IPv4 to 169.254.0.0/16 (and, isolated, to the subnet except the gateway) is dropped,
 *       pinned IPv4 and ARP pass, everything else (IPv6, other ether types, forged sources) is
 *       dropped. Prerouting comes before the bridge learns the source MAC, so a forged MAC is never
 *       learned on the wrong port;</li>
 *   <li>chain {@code isolation} on the bridge's forward hook, empty unless isolated: then a frame
 *       from one tap to another passes only as IPv4 to that tap's subnet address, which after the
 *       prerouting rule can only be a published port's traffic that the host DNATed back into the
 *       bridge (with br_netfilter); broadcasts, ARP and frames addressed to a neighbour's MAC stop.</li>
 * </ul>
 * Every change is one {@code nft} command, one kernel transaction. nftables rather than ebtables:
 * {@code nft} takes a whole batch as an argument (ebtables-restore reads only stdin), and a pin is
 * three set elements whatever the number of tasks, where per-tap chains made every later command
 * slower (nft reads all chains first). The bridge family has no conntrack on every kernel, hence
 * the address test instead of a DNAT state in the forward chain.
 */
public final class NftGuestFilter implements GuestFilter {
    static final String TABLE = "nomad_mirage";
    private static final String AT = "bridge " + TABLE + " ";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HostCommands commands;

    public NftGuestFilter(CommandRunner runner) {
        this.commands = new HostCommands(runner);
    }

    /** The batch {@link #ensure} applies (package-private for its test). */
    static String setup(Ipv4Cidr subnet, boolean isolateTasks) {
        String gateway = Ipv4Cidr.formatAddress(subnet.gateway());
        StringBuilder batch = new StringBuilder()
                .append("add table ").append(AT.strip()).append('\n')
                .append("add set ").append(AT).append("taps { type ifname; }\n")
                .append("add set ").append(AT).append("ip_pins { type ifname . ether_addr . ipv4_addr; }\n")
                .append("add set ").append(AT).append("arp_pins { type ifname . ether_addr . ether_addr . ipv4_addr; }\n")
                .append("add chain ").append(AT).append("guests { type filter hook prerouting priority -300; policy accept; }\n")
                .append("flush chain ").append(AT).append("guests\n")
                .append("add rule ").append(AT).append("guests iifname != @taps accept\n")
                .append("add rule ").append(AT).append("guests ip daddr 169.254.0.0/16 counter drop\n");
        if (isolateTasks) {
            batch.append("add rule ").append(AT).append("guests ip daddr ").append(subnet).append(" ip daddr != ")
                    .append(gateway).append(" counter drop\n");
        }
        batch.append("add rule ").append(AT).append("guests iifname . ether saddr . ip saddr @ip_pins accept\n")
                .append("add rule ").append(AT)
                .append("guests iifname . ether saddr . arp saddr ether . arp saddr ip @arp_pins accept\n")
                .append("add rule ").append(AT).append("guests counter drop\n")
                .append("add chain ").append(AT).append("isolation { type filter hook forward priority 0; policy accept; }\n")
                .append("flush chain ").append(AT).append("isolation\n");
        if (isolateTasks) {
            batch.append("add rule ").append(AT).append("isolation iifname @taps oifname @taps ip daddr ").append(subnet)
                    .append(" ip daddr != ").append(gateway).append(" accept\n")
                    .append("add rule ").append(AT).append("isolation iifname @taps oifname @taps counter drop\n");
        }
        return batch.toString();
    }

    @Override
    public void ensure(Ipv4Cidr subnet, boolean isolateTasks) throws NetworkSetupException {
        nft(setup(subnet, isolateTasks));
    }

    @Override
    public void pin(List<Pin> pins) throws NetworkSetupException {
        if (!pins.isEmpty()) {
            nft(elements("add", pins));
        }
    }

    /**
     * Deletes by adding first: "add" of a present element changes nothing and "delete" of a missing
     * one fails, so the pair removes what is there without a listing, in one transaction.
     */
    @Override
    public void unpin(List<Pin> pins) throws NetworkSetupException {
        if (pins.isEmpty()) {
            return;
        }
        CommandResult result = attempt(false, "nft", elements("add", pins) + elements("delete", pins));
        if (!result.succeeded() && tableExists()) {
            throw HostCommands.failure(result);
        }
    }

    @Override
    public List<Pin> pins() throws NetworkSetupException {
        CommandResult listed = attempt(true, "nft", "-j", "list", "set", "bridge", TABLE, "ip_pins");
        if (!listed.succeeded() && !tableExists()) {
            return List.of();
        }
        return parsePins(HostCommands.whole(listed));
    }

    /** The pins in {@code nft -j list set bridge nomad_mirage ip_pins} output. */
    static List<Pin> parsePins(String json) throws NetworkSetupException {
        List<Pin> pins = new ArrayList<>();
        try {
            for (JsonNode item : JSON.readTree(json).path("nftables")) {
                for (JsonNode element : item.path("set").path("elem")) {
                    JsonNode concat = element.path("concat");
                    if (concat.size() != 3) {
                        throw new NetworkSetupException("unexpected element in the nft set ip_pins: " + element);
                    }
                    pins.add(new Pin(concat.get(0).asText(), concat.get(1).asText(), concat.get(2).asText()));
                }
            }
        } catch (JsonProcessingException | IllegalArgumentException e) {
            throw new NetworkSetupException("cannot read the nft set ip_pins: " + e.getMessage(), e);
        }
        return pins;
    }

    private static String elements(String verb, List<Pin> pins) {
        return verb + " element " + AT + "taps { " + join(pins, p -> quoted(p.tap())) + " }\n"
                + verb + " element " + AT + "ip_pins { " + join(pins, p -> quoted(p.tap()) + " . " + p.mac() + " . " + p.ip())
                + " }\n"
                + verb + " element " + AT + "arp_pins { " + join(pins, p -> quoted(p.tap()) + " . " + p.mac() + " . "
                + p.mac() + " . " + p.ip()) + " }\n";
    }

    private static String join(List<Pin> pins, Function<Pin, String> element) {
        return String.join(", ", pins.stream().map(element).toList());
    }

    private static String quoted(String tap) {
        return "\"" + tap + "\"";
    }

    private boolean tableExists() throws NetworkSetupException {
        CommandResult listed = attempt(true, "nft", "list", "tables", "bridge");
        return HostCommands.whole(listed).lines().anyMatch(line -> line.strip().equals("table bridge " + TABLE));
    }

    private void nft(String batch) throws NetworkSetupException {
        HostCommands.whole(attempt(false, "nft", batch));
    }

    private CommandResult attempt(boolean listing, String... argv) throws NetworkSetupException {
        try {
            return listing ? commands.attemptListing(argv) : commands.attempt(argv);
        } catch (NetworkSetupException e) {
            if (e.getCause() instanceof IOException) {
                throw new NetworkSetupException("cannot run nft, which pins guests to their addresses on the bridge "
                        + "(install nftables): " + e.getCause().getMessage(), e);
            }
            throw e;
        }
    }
}
