package nomadmirage.network;

import java.util.List;
import java.util.OptionalInt;

/**
 * The host changes of a task start — its taps, pins and port forwards — made by a faster means than the
 * {@code ip} and {@code nft} tools (the supervisor service's ioctls and netlink requests).
 */
public interface StartPath {
    /** As {@link HostNetwork#createTap}. */
    void createTap(String tap, String bridge, int mtu, OptionalInt uid, OptionalInt gid) throws NetworkSetupException;

    /** As {@link GuestFilter#pin} for one pin. */
    void pin(Pin pin) throws NetworkSetupException;

    /** As {@link ForwardTable#add}: returns the forwards whose key was taken. */
    List<MapForward> forward(List<MapForward> forwards) throws NetworkSetupException;
}
