package nomadmirage.network;

import java.util.List;
import java.util.OptionalInt;
import nomadmirage.config.Ipv4Cidr;

/** Links and kernel settings of the host's network namespace. */
public interface HostNetwork {
    /** Creates the bridge if missing and gives it exactly the subnet's gateway address, the MTU and state up. */
    void ensureBridge(String bridge, Ipv4Cidr subnet, int mtu) throws NetworkSetupException;

    /** Sets a sysctl such as {@code net.ipv4.ip_forward} (slashes allowed, for interface names with dots). */
    void setSysctl(String key, String value) throws NetworkSetupException;

    /**
     * Creates a tap owned by the given user and group (so an unprivileged tender can open it),
     * attached to the bridge in hairpin mode and up. Fails if a link of that name exists.
     */
    void createTap(String tap, String bridge, int mtu, OptionalInt uid, OptionalInt gid) throws NetworkSetupException;

    /** Deletes a tap; returns false when there was none. */
    boolean deleteTap(String tap) throws NetworkSetupException;

    /** Whether the bridge exists in this network namespace. */
    boolean bridgeExists(String bridge) throws NetworkSetupException;

    /** The taps on the host whose names have our shape ({@link TapNames#isOurs}). */
    List<String> taps() throws NetworkSetupException;
}
