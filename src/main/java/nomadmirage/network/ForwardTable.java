package nomadmirage.network;

import java.util.Collection;
import java.util.List;

/** Where the node's port forwards live (the {@code ip nomad_mirage} maps) and how they change. */
public interface ForwardTable {
    /** The maps and the chains that DNAT from them; idempotent, keeps the elements. */
    void ensure() throws NetworkSetupException;

    /** Adds each forward; returns those whose key was taken already (nothing was changed for them). */
    List<MapForward> add(List<MapForward> forwards) throws NetworkSetupException;

    /** Deletes these exact keys in one transaction; fails whole when one of them is not there. */
    void remove(Collection<MapForward> forwards) throws NetworkSetupException;

    /** Every forward present now. */
    List<MapForward> list() throws NetworkSetupException;
}
