package nomadmirage.network;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What a pool check asks of the leases — who holds an address, a MAC, a task's device — answered
 * without walking them all. Built from one content read of the lease file and valid while that read
 * is what the file gives ({@link #isOf}); this process's own changes keep it so ({@link #added},
 * {@link #released}), so a start at 500 leases looks up as much as at one.
 */
final class PoolIndex {
    private LeaseFile.Content content;
    private final Map<Integer, Lease> byAddress = new HashMap<>();
    private final Map<String, Lease> byMac = new HashMap<>();
    private final Map<String, List<Lease>> byTask = new HashMap<>();

    private PoolIndex(LeaseFile.Content content) {
        this.content = content;
        content.leases().forEach(this::put);
    }

    static PoolIndex of(LeaseFile.Content content) {
        return new PoolIndex(content);
    }

    /** Whether this index describes exactly that content (the same read, not merely equal leases). */
    boolean isOf(LeaseFile.Content other) {
        return content == other;
    }

    Lease holderOf(int address) {
        return byAddress.get(address);
    }

    Lease holderOfMac(String mac) {
        return byMac.get(mac);
    }

    List<Lease> of(String taskId) {
        return byTask.getOrDefault(taskId, List.of());
    }

    Lease find(String taskId, String device) {
        for (Lease lease : of(taskId)) {
            if (lease.device().equals(device)) {
                return lease;
            }
        }
        return null;
    }

    /** LEASE was added (replacing that task's lease for its device), giving NEXT. */
    void added(Lease lease, LeaseFile.Content next) {
        Lease replaced = find(lease.taskId(), lease.device());
        if (replaced != null) {
            remove(replaced);
        }
        put(lease);
        content = next;
    }

    /** These leases were released, giving NEXT. */
    void released(List<Lease> leases, LeaseFile.Content next) {
        leases.forEach(this::remove);
        content = next;
    }

    private void put(Lease lease) {
        byAddress.put(lease.address(), lease);
        byMac.put(lease.mac(), lease);
        byTask.computeIfAbsent(lease.taskId(), t -> new ArrayList<>(1)).add(lease);
    }

    private void remove(Lease lease) {
        byAddress.remove(lease.address(), lease);
        byMac.remove(lease.mac(), lease);
        List<Lease> own = byTask.get(lease.taskId());
        if (own != null) {
            own.remove(lease);
            if (own.isEmpty()) {
                byTask.remove(lease.taskId());
            }
        }
    }
}
