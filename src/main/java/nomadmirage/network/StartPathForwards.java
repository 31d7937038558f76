package nomadmirage.network;

import java.util.Collection;
import java.util.List;

/** A {@link ForwardTable} whose additions are made by a {@link StartPath}; set-up, removal and listing are the delegate's. */
public final class StartPathForwards implements ForwardTable {
    private final ForwardTable delegate;
    private final StartPath path;

    public StartPathForwards(ForwardTable delegate, StartPath path) {
        this.delegate = delegate;
        this.path = path;
    }

    @Override
    public void ensure() throws NetworkSetupException {
        delegate.ensure();
    }

    @Override
    public List<MapForward> add(List<MapForward> forwards) throws NetworkSetupException {
        return forwards.isEmpty() ? List.of() : path.forward(forwards);
    }

    @Override
    public void remove(Collection<MapForward> forwards) throws NetworkSetupException {
        delegate.remove(forwards);
    }

    @Override
    public List<MapForward> list() throws NetworkSetupException {
        return delegate.list();
    }
}
