package nomadmirage.network;

import nomadmirage.state.StateDirectory;

import java.nio.file.Path;
import java.util.Objects;
import nomadmirage.config.Ipv4Cidr;

/**
 * Node-wide network settings: the bridge, its address pool, the MAC prefix, where leases live, and
 * whether tasks on the bridge are isolated from each other.
 */
public record NetworkSettings(String bridge, Ipv4Cidr subnet, String macOui, int mtu, Path stateDir,
        boolean isolateTasks) {
    public static final String DEFAULT_MAC_OUI = "00:80:41";
    public static final int DEFAULT_MTU = 1500;

    public NetworkSettings {
        Objects.requireNonNull(bridge, "bridge");
        Objects.requireNonNull(subnet, "subnet");
        Objects.requireNonNull(macOui, "macOui");
        Objects.requireNonNull(stateDir, "stateDir");
        if (!bridge.matches("[A-Za-z0-9_.-]{1,15}")) {
            throw new IllegalArgumentException("bridge name must be 1-15 characters of [A-Za-z0-9_.-]: " + bridge);
        }
        if (subnet.prefixLength() > 30) {
            throw new IllegalArgumentException("subnet " + subnet + " has no room for a gateway and a task (at most /30)");
        }
        MacAddresses.parseOui(macOui);
        if (mtu < 68 || mtu > 65535) {
            throw new IllegalArgumentException("mtu out of range 68-65535: " + mtu);
        }
    }

    public static NetworkSettings withDefaults(String bridge, Ipv4Cidr subnet, Path stateDir) {
        return new NetworkSettings(bridge, subnet, DEFAULT_MAC_OUI, DEFAULT_MTU, stateDir, false);
    }

    public StateDirectory state() {
        return new StateDirectory(stateDir);
    }

    /** Node-wide network state: the lease file, its lock, saved rules. */
    public Path networkDir() {
        return state().networkDir();
    }
}
