package nomadmirage.network;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/**
 * Port forwards as elements of the {@code ip nomad_mirage} maps, through {@code nft}. They replaced
 * per-task iptables rules: a start adds elements (0.06 ms over netlink from the supervisor service with
 * 500 present, see {@link StartPathForwards}) where an iptables-restore cost more with every task's rules.
 * Removal runs in the reaper: a deletion transaction costs 8-30 ms of RCU grace periods here.
 */
public final class NftForwards implements ForwardTable {
    static final String TABLE = "nomad_mirage";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HostCommands commands;

    public NftForwards(CommandRunner runner) {
        this.commands = new HostCommands(runner);
    }

    /**
     * The table: both maps, and a DNAT from each in prerouting (traffic to the host) and output (connections
     * from the host itself), just ahead of iptables' nat chains. Idempotent: maps keep their elements.
     */
    static String setup() {
        String at = "ip " + TABLE + " ";
        String dnat = "dnat ip to ip daddr . meta l4proto . th dport map @fwd_addr\n";
        String local = "fib daddr type local dnat ip to meta l4proto . th dport map @fwd_local\n";
        return "add table ip " + TABLE + "\n"
                + "add map " + at + "fwd_local { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
                + "add map " + at + "fwd_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }\n"
                + "add chain " + at + "pre { type nat hook prerouting priority dstnat - 1; policy accept; }\n"
                + "flush chain " + at + "pre\n"
                + "add rule " + at + "pre " + dnat
                + "add rule " + at + "pre " + local
                + "add chain " + at + "out { type nat hook output priority -101; policy accept; }\n"
                + "flush chain " + at + "out\n"
                + "add rule " + at + "out " + dnat
                + "add rule " + at + "out " + local;
    }

    @Override
    public void ensure() throws NetworkSetupException {
        HostCommands.whole(commands.attempt("nft", setup()));
    }

    /** One {@code nft create element} per forward: unlike {@code add}, it fails on a taken key. */
    @Override
    public List<MapForward> add(List<MapForward> forwards) throws NetworkSetupException {
        List<MapForward> taken = new ArrayList<>();
        for (MapForward forward : forwards) {
            CommandResult result = commands.attempt("nft", batch("create", List.of(forward), true));
            if (!result.succeeded()) {
                if (!result.stderr().contains("File exists")) {
                    HostCommands.whole(result);
                }
                taken.add(forward);
            }
        }
        return taken;
    }

    @Override
    public void remove(Collection<MapForward> forwards) throws NetworkSetupException {
        if (!forwards.isEmpty()) {
            HostCommands.whole(commands.attempt("nft", batch("delete", forwards, false)));
        }
    }

    @Override
    public List<MapForward> list() throws NetworkSetupException {
        List<MapForward> all = new ArrayList<>();
        for (String map : List.of("fwd_local", "fwd_addr")) {
            all.addAll(parse(map, HostCommands.whole(commands.attemptListing("nft", "-j", "list", "map", "ip",
                    TABLE, map))));
        }
        return all;
    }

    static String batch(String verb, Collection<MapForward> forwards, boolean withValues) {
        StringBuilder out = new StringBuilder();
        for (MapForward f : forwards) {
            out.append(verb).append(" element ip ").append(TABLE).append(' ').append(f.map()).append(" { ")
                    .append(withValues ? f.element() : f.key()).append(" }\n");
        }
        return out.toString();
    }

    /** The elements in {@code nft -j list map} output. */
    static List<MapForward> parse(String map, String json) throws NetworkSetupException {
        List<MapForward> out = new ArrayList<>();
        try {
            for (JsonNode item : JSON.readTree(json).path("nftables")) {
                for (JsonNode element : item.path("map").path("elem")) {
                    JsonNode key = element.path(0).path("concat");
                    JsonNode value = element.path(1).path("concat");
                    boolean local = map.equals("fwd_local");
                    if (key.size() != (local ? 2 : 3) || value.size() != 2) {
                        throw new NetworkSetupException("unexpected element in the nft map " + map + ": " + element);
                    }
                    int k = local ? 0 : 1;
                    out.add(new MapForward(local ? "" : key.get(0).asText(), key.get(k).asText(),
                            key.get(k + 1).asInt(), value.get(0).asText(), value.get(1).asInt()));
                }
            }
        } catch (JsonProcessingException | IllegalArgumentException e) {
            throw new NetworkSetupException("cannot read the nft map " + map + ": " + e.getMessage(), e);
        }
        return out;
    }
}
