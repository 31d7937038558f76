package nomadmirage.network;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.state.StateDirectory;

/**
 * Addresses and MACs for task devices, persisted in the lease file and its journal ({@link LeaseFile}) of the
 * {@link nomadmirage.state.StateDirectory} under the node lock, so leases survive restarts and two plugin processes never
 * hand out the same address. Leasing the same task and device again returns the
 * existing lease, so a retried or crashed start does not leak addresses.
 */
public final class Ipam {
    /** Candidate MACs tried before giving up; a clash needs 24 equal hash bits, so one retry is nearly always enough. */
    private static final int MAC_ATTEMPTS = 64;

    private final Ipv4Cidr subnet;
    private final String macOui;
    private final LeaseFile file;
    private final NodeLock lock;
    /** Guarded by the node lock. */
    private PoolIndex index;

    public Ipam(NetworkSettings settings) {
        this.subnet = settings.subnet();
        this.macOui = settings.macOui();
        this.file = new LeaseFile(settings.state().leaseFile(), settings.state().leaseJournal());
        this.lock = new NodeLock(settings.state().nodeLock());
    }

    NodeLock lock() {
        return lock;
    }

    /**
     * The leases stored in STATE (snapshot and journal), read under the node lock; none, and nothing
     * created, when no networked task ever ran there. For tools and tests outside the plugin process.
     */
    public static List<Lease> stored(StateDirectory state) throws NetworkSetupException {
        if (!Files.exists(state.leaseFile()) && !Files.exists(state.leaseJournal())) {
            return List.of();
        }
        return new NodeLock(state.nodeLock()).with(() -> new LeaseFile(state.leaseFile(), state.leaseJournal()).read().leases());
    }

    /** Leases the lowest free address of the subnet; {@code mac} empty means derive one. */
    public Lease allocate(String taskId, String device, Optional<String> mac) throws NetworkSetupException {
        return lock.with(() -> {
            PoolIndex pool = index();
            Lease existing = pool.find(taskId, device);
            if (existing != null) {
                return reuse(existing, Optional.empty(), mac);
            }
            long size = subnet.size();
            for (long offset = 1; offset < size - 1; offset++) {
                int candidate = (int) (Integer.toUnsignedLong(subnet.network()) + offset);
                if (Ipv4.isAssignable(subnet, candidate) && pool.holderOf(candidate) == null) {
                    return store(pool, taskId, device, candidate, mac);
                }
            }
            throw new NetworkSetupException("the address pool " + subnet + " is exhausted: all " + (size - 3)
                    + " task addresses are leased (see the driver's network status; detach or reconcile stale tasks)");
        });
    }

    /** Leases a job-chosen address; it must be assignable and not held by another task or device. */
    public Lease allocateStatic(String taskId, String device, String ip, Optional<String> mac)
            throws NetworkSetupException {
        Integer parsed = Ipv4Cidr.parseAddress(ip);
        if (parsed == null) {
            throw new InvalidNetworkRequestException(device, "address", ip, "not an IPv4 address");
        }
        int address = parsed;
        if (!Ipv4.contains(subnet, address)) {
            throw new InvalidNetworkRequestException(device, "address", ip, "outside the node's subnet " + subnet);
        }
        if (address == subnet.network() || address == Ipv4.broadcast(subnet)) {
            throw new InvalidNetworkRequestException(device, "address", ip,
                    "the network or broadcast address of " + subnet + " cannot be assigned");
        }
        if (address == subnet.gateway()) {
            throw new InvalidNetworkRequestException(device, "address", ip, "this is the bridge's gateway address");
        }
        return lock.with(() -> {
            PoolIndex pool = index();
            Lease existing = pool.find(taskId, device);
            if (existing != null) {
                return reuse(existing, Optional.of(Ipv4Cidr.formatAddress(address)), mac);
            }
            Lease other = pool.holderOf(address);
            if (other != null) {
                throw new InvalidNetworkRequestException(device, "address", ip,
                        "already leased to task " + other.taskId() + " (device " + other.device() + ")");
            }
            return store(pool, taskId, device, address, mac);
        });
    }

    /** The task's leases (none when it holds none). */
    public List<Lease> leasesOf(String taskId) throws NetworkSetupException {
        return lock.with(() -> List.copyOf(index().of(taskId)));
    }

    /** Releases every lease of the task; returns what was released (empty when there was nothing). */
    public List<Lease> release(String taskId) throws NetworkSetupException {
        return release(List.of(taskId));
    }

    /** Releases every lease of these tasks in one write; returns what was released. */
    public List<Lease> release(java.util.Collection<String> taskIds) throws NetworkSetupException {
        if (taskIds.isEmpty()) {
            return List.of();
        }
        return lock.with(() -> {
            PoolIndex pool = index();
            List<Lease> released = new ArrayList<>();
            Set<String> holders = new HashSet<>();
            for (String taskId : new LinkedHashSet<>(taskIds)) {
                List<Lease> own = pool.of(taskId);
                if (!own.isEmpty()) {
                    released.addAll(own);
                    holders.add(taskId);
                }
            }
            if (!released.isEmpty()) {
                pool.released(released, file.release(holders, subnet.toString()));
            }
            return List.copyOf(released);
        });
    }

    /** Every lease, including those left outside the subnet by a configuration change. */
    public List<Lease> leases() throws NetworkSetupException {
        return lock.with(() -> file.read().leases());
    }

    /** Leases whose address is not assignable in the configured subnet (the subnet changed while they were held). */
    public List<Lease> staleLeases() throws NetworkSetupException {
        return leases().stream().filter(l -> !Ipv4.isAssignable(subnet, l.address())).toList();
    }

    private Lease reuse(Lease existing, Optional<String> wantedIp, Optional<String> wantedMac)
            throws InvalidNetworkRequestException {
        if (!Ipv4.isAssignable(subnet, existing.address())) {
            throw new InvalidNetworkRequestException(existing.device(), "address", existing.ip(),
                    "task " + existing.taskId() + " still holds this lease from before the subnet changed to "
                            + subnet + "; detach the task first");
        }
        if (wantedIp.isPresent() && !wantedIp.get().equals(existing.ip())) {
            throw new InvalidNetworkRequestException(existing.device(), "address", wantedIp.get(),
                    "task " + existing.taskId() + " already holds " + existing.ip() + " for this device");
        }
        if (wantedMac.isPresent() && !wantedMac.get().equals(existing.mac())) {
            throw new InvalidNetworkRequestException(existing.device(), "mac", wantedMac.get(),
                    "task " + existing.taskId() + " already holds " + existing.mac() + " for this device");
        }
        return existing;
    }

    private Lease store(PoolIndex pool, String taskId, String device, int address, Optional<String> mac)
            throws NetworkSetupException {
        Lease lease = new Lease(taskId, device, Ipv4Cidr.formatAddress(address), chooseMac(pool, taskId, device, mac));
        pool.added(lease, file.add(lease, subnet.toString()));
        return lease;
    }

    private String chooseMac(PoolIndex pool, String taskId, String device, Optional<String> wanted)
            throws InvalidNetworkRequestException {
        if (wanted.isPresent()) {
            String mac = wanted.get();
            Lease other = pool.holderOfMac(mac);
            if (other != null) {
                throw new InvalidNetworkRequestException(device, "mac", mac,
                        "already used by task " + other.taskId() + " (device " + other.device() + ")");
            }
            return mac;
        }
        for (int attempt = 0; attempt < MAC_ATTEMPTS; attempt++) {
            String mac = MacAddresses.derive(macOui, taskId, device, attempt);
            if (pool.holderOfMac(mac) == null) {
                return mac;
            }
        }
        throw new IllegalStateException("no free MAC after " + MAC_ATTEMPTS + " attempts for " + taskId + "/" + device);
    }

    /** The index of what the lease file holds now: rebuilt only when another process (or a fresh read) changed it. */
    private PoolIndex index() throws NetworkSetupException {
        LeaseFile.Content content = file.read();
        if (index == null || !index.isOf(content)) {
            index = PoolIndex.of(content);
        }
        return index;
    }
}
