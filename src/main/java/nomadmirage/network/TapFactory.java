package nomadmirage.network;

import java.util.OptionalInt;

/** Creates a tap as {@link HostNetwork#createTap} describes it, by some faster means than the {@code ip} tool. */
@FunctionalInterface
public interface TapFactory {
    void create(String tap, String bridge, int mtu, OptionalInt uid, OptionalInt gid) throws NetworkSetupException;
}
