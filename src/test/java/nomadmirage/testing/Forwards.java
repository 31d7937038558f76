package nomadmirage.testing;

import java.util.List;
import nomadmirage.network.MapForward;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.NftForwards;

/**
 * The port forwards in a network namespace: the elements of both maps ({@code fwd_local}, {@code fwd_addr})
 * of the nft table {@code ip nomad_mirage}, read as the plugin reads them ({@code nft -j list map}).
 */
public final class Forwards {
    private Forwards() {
    }

    /** Every forward in the namespace; fails the test when the maps cannot be listed (no table: no set-up host). */
    public static List<MapForward> in(String netns) {
        try {
            return new NftForwards(Netns.runnerIn(netns)).list();
        } catch (NetworkSetupException e) {
            throw new AssertionError("cannot list the port forwards in " + netns + ": " + e.getMessage(), e);
        }
    }

    /** The forwards in the namespace to this guest address. */
    public static List<MapForward> to(String netns, String guestIp) {
        return in(netns).stream().filter(f -> f.guestIp().equals(guestIp)).toList();
    }

    /** The elements of one forwarded port: TCP and UDP ({@code hostIp} empty or 0.0.0.0: every local address). */
    public static List<MapForward> of(String hostIp, int hostPort, String guestIp, int guestPort) {
        return MapForward.PROTOCOLS.stream().map(p -> new MapForward(hostIp, p, hostPort, guestIp, guestPort)).toList();
    }

    /** How the plugin's status and reconcile show a forward: {@code nft fwd_local tcp . 8080 : 10.99.0.2 . 80}. */
    public static String described(MapForward forward) {
        return "nft " + forward.map() + " " + forward.element();
    }
}
