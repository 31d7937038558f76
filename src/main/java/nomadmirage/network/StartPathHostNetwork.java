package nomadmirage.network;

import java.util.List;
import java.util.OptionalInt;
import nomadmirage.config.Ipv4Cidr;

/**
 * A {@link HostNetwork} whose taps come from a {@link StartPath} (the supervisor service's ioctls,
 * on the start path), and whose other, rarer work is the delegate's.
 */
public final class StartPathHostNetwork implements HostNetwork {
    private final HostNetwork delegate;
    private final StartPath taps;

    public StartPathHostNetwork(HostNetwork delegate, StartPath taps) {
        this.delegate = delegate;
        this.taps = taps;
    }

    @Override
    public void ensureBridge(String bridge, Ipv4Cidr subnet, int mtu) throws NetworkSetupException {
        delegate.ensureBridge(bridge, subnet, mtu);
    }

    @Override
    public void setSysctl(String key, String value) throws NetworkSetupException {
        delegate.setSysctl(key, value);
    }

    @Override
    public void createTap(String tap, String bridge, int mtu, OptionalInt uid, OptionalInt gid)
            throws NetworkSetupException {
        taps.createTap(tap, bridge, mtu, uid, gid);
    }

    @Override
    public boolean deleteTap(String tap) throws NetworkSetupException {
        return delegate.deleteTap(tap);
    }

    @Override
    public boolean bridgeExists(String bridge) throws NetworkSetupException {
        return delegate.bridgeExists(bridge);
    }

    @Override
    public List<String> taps() throws NetworkSetupException {
        return delegate.taps();
    }
}
