package nomadmirage.network;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The node's port forwards as last listed plus every change made since, so that a start checks for
 * conflicts without listing the maps (which grows with the node). Only this plugin writes the maps;
 * whenever a change fails the index is dropped and listed afresh on next use. A forward's owner is
 * its guest address (a lease).
 */
final class PortForwards {
    private final ForwardTable table;
    private final Object lock = new Object();
    /** Present forwards by protocol and host port, and by guest address; null when unknown. */
    private Map<String, List<MapForward>> byPort;
    private Map<String, List<MapForward>> byGuest;
    /** Keys being deleted right now: whoever wants one waits until the deletion is over. */
    private final Set<MapForward> deleting = new HashSet<>();

    PortForwards(ForwardTable table) {
        this.table = table;
    }

    /** What {@link #install} did besides adding: the forwards of other guests it replaced. */
    record Installed(List<MapForward> evicted) {
    }

    /**
     * Makes the forwards to {@code ownIps} exactly {@code wanted}. Every other forward that would take
     * one of the same host endpoints (same key, or either side on every local address) is deleted
     * first: one left by a task whose release failed or is still queued would take this task's traffic.
     */
    Installed install(List<MapForward> wanted, Set<String> ownIps) throws NetworkSetupException {
        try {
            return installOnce(wanted, ownIps);
        } catch (NetworkSetupException first) {
            // The index was wrong (a forward it meant to delete had gone): once more from a fresh listing.
            try {
                return installOnce(wanted, ownIps);
            } catch (NetworkSetupException second) {
                second.addSuppressed(first);
                throw second;
            }
        }
    }

    private Installed installOnce(List<MapForward> wanted, Set<String> ownIps) throws NetworkSetupException {
        List<MapForward> toAdd = new ArrayList<>();
        List<MapForward> doomed = new ArrayList<>();
        synchronized (lock) {
            loadLocked();
            awaitDeletionsLocked(d -> wanted.stream().anyMatch(w -> overlaps(w, d)));
            for (String ip : ownIps) {
                for (MapForward present : byGuest.getOrDefault(ip, List.of())) {
                    if (!wanted.contains(present)) {
                        doomed.add(present);
                    }
                }
            }
            for (MapForward w : wanted) {
                boolean there = false;
                for (MapForward present : byPort.getOrDefault(portKey(w), List.of())) {
                    if (present.equals(w)) {
                        there = true;
                    } else if (overlaps(present, w) && !doomed.contains(present)) {
                        doomed.add(present);
                    }
                }
                if (!there) {
                    toAdd.add(w);
                }
            }
            takeOutLocked(doomed);
            toAdd.forEach(this::rememberLocked);
        }
        List<MapForward> evicted = new ArrayList<>(doomed.stream().filter(f -> !ownIps.contains(f.guestIp())).toList());
        try {
            deleteNow(doomed);
            List<MapForward> taken = table.add(toAdd);
            if (!taken.isEmpty()) {
                // Not in the index, so not ours as far as it knows: replace what holds those keys.
                List<MapForward> holders = listed(f -> taken.stream().anyMatch(t -> t.map().equals(f.map())
                        && t.key().equals(f.key())));
                table.remove(holders);
                evicted.addAll(holders);
                List<MapForward> still = table.add(taken);
                if (!still.isEmpty()) {
                    throw new NetworkSetupException("the port forwards " + still.stream().map(MapForward::element).toList()
                            + " could not be added: their host endpoints stay taken");
                }
            }
        } catch (NetworkSetupException | RuntimeException e) {
            dropIndex();
            throw e;
        }
        return new Installed(evicted);
    }

    /** Deletes every forward to these guests (one transaction); returns them. */
    List<MapForward> removeTo(Set<String> guestIps) throws NetworkSetupException {
        List<MapForward> doomed = new ArrayList<>();
        synchronized (lock) {
            loadLocked();
            for (String ip : guestIps) {
                doomed.addAll(byGuest.getOrDefault(ip, List.of()));
            }
            takeOutLocked(doomed);
        }
        deleteTakenOut(doomed);
        return doomed;
    }

    /** From a fresh listing: deletes every forward to a guest not in {@code keepIps}; returns them. */
    List<MapForward> resync(Set<String> keepIps) throws NetworkSetupException {
        List<MapForward> doomed = new ArrayList<>();
        synchronized (lock) {
            awaitDeletionsLocked(k -> true);
            dropIndex();
            loadLocked();
            for (MapForward present : all()) {
                if (!keepIps.contains(present.guestIp())) {
                    doomed.add(present);
                }
            }
            takeOutLocked(doomed);
        }
        deleteTakenOut(doomed);
        return doomed;
    }

    /** Every forward as listed now. */
    List<MapForward> listed() throws NetworkSetupException {
        return table.list();
    }

    private List<MapForward> listed(Predicate<MapForward> which) throws NetworkSetupException {
        return table.list().stream().filter(which).toList();
    }

    /** Takes forwards out of the index and marks them as being deleted, for {@link #deleteNow}. */
    private void takeOutLocked(List<MapForward> doomed) {
        doomed.forEach(this::forgetLocked);
        deleting.addAll(doomed);
    }

    /** {@link #deleteNow}; after a failure the index is listed afresh on next use. */
    private void deleteTakenOut(List<MapForward> doomed) throws NetworkSetupException {
        try {
            deleteNow(doomed);
        } catch (NetworkSetupException | RuntimeException e) {
            dropIndex();
            throw e;
        }
    }

    /** Deletes forwards already taken out of the index and marked as being deleted; unmarks them however it ends. */
    private void deleteNow(Collection<MapForward> doomed) throws NetworkSetupException {
        try {
            if (!doomed.isEmpty()) {
                table.remove(doomed);
            }
        } finally {
            synchronized (lock) {
                deleting.removeAll(doomed);
                lock.notifyAll();
            }
        }
    }

    private void dropIndex() {
        synchronized (lock) {
            byPort = null;
            byGuest = null;
        }
    }

    private void loadLocked() throws NetworkSetupException {
        if (byPort != null) {
            return;
        }
        List<MapForward> listed = table.list();
        byPort = new HashMap<>();
        byGuest = new HashMap<>();
        listed.forEach(this::rememberLocked);
    }

    private void awaitDeletionsLocked(Predicate<MapForward> matters) throws NetworkSetupException {
        while (deleting.stream().anyMatch(matters)) {
            try {
                lock.wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new NetworkSetupException("interrupted while waiting for a port forward's removal", e);
            }
        }
    }

    private List<MapForward> all() {
        return byPort.values().stream().flatMap(List::stream).toList();
    }

    private void rememberLocked(MapForward f) {
        byPort.computeIfAbsent(portKey(f), k -> new ArrayList<>()).add(f);
        byGuest.computeIfAbsent(f.guestIp(), k -> new ArrayList<>()).add(f);
    }

    private void forgetLocked(MapForward f) {
        forget(byPort, portKey(f), f);
        forget(byGuest, f.guestIp(), f);
    }

    private static void forget(Map<String, List<MapForward>> index, String key, MapForward f) {
        List<MapForward> at = index.get(key);
        if (at != null) {
            at.remove(f);
            if (at.isEmpty()) {
                index.remove(key);
            }
        }
    }

    private static String portKey(MapForward f) {
        return f.protocol() + "/" + f.hostPort();
    }

    /** Two forwards of the same protocol and host port that would take each other's traffic. */
    static boolean overlaps(MapForward a, MapForward b) {
        return a.protocol().equals(b.protocol()) && a.hostPort() == b.hostPort()
                && (a.anyAddress() || b.anyAddress() || a.hostIp().equals(b.hostIp()));
    }
}
