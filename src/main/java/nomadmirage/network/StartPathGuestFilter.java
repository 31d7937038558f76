package nomadmirage.network;

import java.util.List;
import nomadmirage.config.Ipv4Cidr;

/** A {@link GuestFilter} whose pins are written by a {@link StartPath}; set-up, unpinning and listing are the delegate's. */
public final class StartPathGuestFilter implements GuestFilter {
    private final GuestFilter delegate;
    private final StartPath path;

    public StartPathGuestFilter(GuestFilter delegate, StartPath path) {
        this.delegate = delegate;
        this.path = path;
    }

    @Override
    public void ensure(Ipv4Cidr subnet, boolean isolateTasks) throws NetworkSetupException {
        delegate.ensure(subnet, isolateTasks);
    }

    @Override
    public void pin(List<Pin> pins) throws NetworkSetupException {
        for (Pin pin : pins) {
            path.pin(pin);
        }
    }

    @Override
    public void unpin(List<Pin> pins) throws NetworkSetupException {
        delegate.unpin(pins);
    }

    @Override
    public List<Pin> pins() throws NetworkSetupException {
        return delegate.pins();
    }
}
