package nomadmirage.network;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The nft maps in memory, keyed as the kernel keys them (map and key): an addition on a taken key is
 * refused, a deletion of a missing key fails the whole transaction, as with nft.
 */
final class FakeForwardTable implements ForwardTable {
    final Map<String, MapForward> elements = new LinkedHashMap<>();
    boolean failAdd;
    boolean failRemove;
    int ensureCalls;
    int listCalls;
    int removeCalls;
    /** Runs (once) at the start of the next removal, as another process changing the maps would. */
    Runnable beforeRemove;

    static String keyOf(MapForward f) {
        return f.map() + " " + f.key();
    }

    @Override
    public synchronized void ensure() {
        ensureCalls++;
    }

    @Override
    public synchronized List<MapForward> add(List<MapForward> forwards) throws NetworkSetupException {
        if (failAdd && !forwards.isEmpty()) {
            throw new NetworkSetupException("adding the port forward " + forwards.getFirst().element() + ": no such table");
        }
        List<MapForward> taken = new ArrayList<>();
        for (MapForward f : forwards) {
            if (elements.putIfAbsent(keyOf(f), f) != null) {
                taken.add(f);
            }
        }
        return taken;
    }

    @Override
    public void remove(Collection<MapForward> forwards) throws NetworkSetupException {
        Runnable hook;
        synchronized (this) {
            removeCalls++;
            hook = beforeRemove;
            beforeRemove = null;
        }
        if (hook != null) {
            hook.run(); // outside the lock: a slow deletion does not hold up other changes, as with nft
        }
        removeNow(forwards);
    }

    private synchronized void removeNow(Collection<MapForward> forwards) throws NetworkSetupException {
        if (failRemove) {
            throw new NetworkSetupException("network command failed: nft delete element: exited 1: busy");
        }
        for (MapForward f : forwards) {
            if (!elements.containsKey(keyOf(f))) {
                throw new NetworkSetupException("network command failed: nft delete element: No such file or directory: "
                        + f.key());
            }
        }
        forwards.forEach(f -> elements.remove(keyOf(f)));
    }

    @Override
    public synchronized List<MapForward> list() {
        listCalls++;
        return List.copyOf(elements.values());
    }

    synchronized List<MapForward> to(String guestIp) {
        return elements.values().stream().filter(f -> f.guestIp().equals(guestIp)).toList();
    }

    synchronized void put(MapForward f) {
        elements.put(keyOf(f), f);
    }
}
