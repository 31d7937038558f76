package nomadmirage.network;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.time.Duration;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.log.Logger;
import nomadmirage.state.Rollback;
import nomadmirage.proc.CommandRunner;

/**
 * Task networks on this node: the one entry point the driver uses. Attach and
 * detach run concurrently for different tasks; reconcile excludes both, since it
 * decides from a snapshot what belongs to no task.
 */
public final class NetworkManager {
    private static final long GATHER_MS = 250;
    private static final Duration GATHER = Duration.ofMillis(GATHER_MS);
    private static final int MAX_BATCH = 256;
    private static final int PARALLEL_TAP_DELETIONS = 8;

    private final NetworkSettings settings;
    private final HostNetwork host;
    private final Ipam ipam;
    private final RuleEditor rules;
    private final Firewall firewall;
    private final GuestFilter guests;
    private final PortForwards forwards;
    private final HostSetup setup;
    private final Logger log;
    private final ReadWriteLock reconcileLock = new ReentrantReadWriteLock();
    private final BlockingQueue<Release> releases = new LinkedBlockingQueue<>();
    private final AtomicInteger pendingReleases = new AtomicInteger();
    /** Tasks handed to the reaper and not yet gone: replacing their forwards is no news worth a warning. */
    private final Set<String> releasing = ConcurrentHashMap.newKeySet();
    private volatile boolean hostReady;
    private Thread reaper;

    /** A task whose forwards are gone and whose taps, pins and leases the reaper removes. */
    private record Release(NetworkTeardown teardown, CompletableFuture<Void> done) {
    }

    public NetworkManager(NetworkSettings settings, HostNetwork host, Firewall firewall, GuestFilter guests,
            ForwardTable forwardTable, Logger log) {
        this.settings = settings;
        this.host = host;
        this.firewall = firewall;
        this.guests = guests;
        this.forwards = new PortForwards(forwardTable);
        this.ipam = new Ipam(settings);
        this.rules = new RuleEditor(firewall);
        this.setup = new HostSetup(settings, host, firewall, guests, forwardTable);
        this.log = log;
    }

    /** The production wiring: ip, sysctl, iptables and nft through {@code runner}. */
    public static NetworkManager overCommands(NetworkSettings settings, CommandRunner runner, Logger log) {
        return new NetworkManager(settings, new IpCommandHostNetwork(runner),
                new IptablesFirewall(runner, settings.networkDir()), new NftGuestFilter(runner), new NftForwards(runner),
                log);
    }

    /** As {@link #overCommands}, with taps, pins and forwards made by {@code path}. */
    public static NetworkManager overCommands(NetworkSettings settings, CommandRunner runner, StartPath path,
            Logger log) {
        return new NetworkManager(settings, new StartPathHostNetwork(new IpCommandHostNetwork(runner), path),
                new IptablesFirewall(runner, settings.networkDir()),
                new StartPathGuestFilter(new NftGuestFilter(runner), path),
                new StartPathForwards(new NftForwards(runner), path), log);
    }

    public NetworkSettings settings() {
        return settings;
    }

    /** Bridge, sysctls, chains, jumps and pool rules; safe to call on every SetConfig and plugin start. */
    public void ensureHostSetup() throws NetworkSetupException {
        ipam.lock().with(() -> {
            if (setup.ensure()) {
                log.info("host network set up", "bridge", settings.bridge(), "subnet", settings.subnet().toString());
            }
            return null;
        });
        hostReady = true;
        List<Lease> stale = ipam.staleLeases();
        if (!stale.isEmpty()) {
            log.warn("leases outside the configured subnet remain until their tasks are detached",
                    "subnet", settings.subnet().toString(), "count", stale.size(), "leases", stale.toString());
        }
    }

    /**
     * Leases an address for each device, adds its port forwards, pins its tap to the lease's MAC and
     * address (before the tap exists, so no frame of it ever passes unfiltered) and creates the tap
     * (owned by uid/gid). Any other forward of the same host endpoint (protocol, port, and address or
     * every local address) is replaced: a failed or pending release may have left it, and it would
     * take this task's traffic; a replaced forward of a task not being released is logged at warn.
     * On any failure everything acquired is undone before the exception is thrown.
     *
     * @throws InvalidNetworkRequestException when the request itself cannot be satisfied
     */
    public Attachment attach(String taskId, OptionalInt uid, OptionalInt gid, List<DeviceRequest> devices)
            throws NetworkSetupException {
        Map<String, Optional<String>> macs = validate(devices);
        if (!hostReady) {
            ensureHostSetup();
        }
        reconcileLock.readLock().lock();
        try (Rollback rollback = new Rollback(log, taskId, "reconcile will remove the leftover")) {
            Set<String> leftover = new HashSet<>();
            for (Lease lease : ipam.leasesOf(taskId)) {
                leftover.add(lease.device());
            }
            rollback.add(() -> ipam.release(taskId));
            List<Lease> leases = new ArrayList<>();
            for (DeviceRequest request : devices) {
                Optional<String> mac = macs.get(request.device());
                leases.add(request.staticIp().isPresent()
                        ? ipam.allocateStatic(taskId, request.device(), request.staticIp().get(), mac)
                        : ipam.allocate(taskId, request.device(), mac));
            }
            if (!leftover.isEmpty()) {
                // A start of this task that crashed half-way left these; they are ours to replace. Plugins
                // before the nft maps tagged per-task iptables rules, which go too.
                rules.removeTask(taskId);
            }
            List<DeviceAttachment> attached = new ArrayList<>();
            for (int i = 0; i < devices.size(); i++) {
                DeviceRequest request = devices.get(i);
                Lease lease = leases.get(i);
                attached.add(new DeviceAttachment(request.device(), lease.tap(), lease.mac(), lease.ip(),
                        settings.subnet().prefixLength(), Ipv4Cidr.formatAddress(settings.subnet().gateway()),
                        request.forwards()));
            }
            // A forward names an address, not a tap: until the tap exists it carries nothing.
            Set<String> ownIps = new HashSet<>(leases.stream().map(Lease::ip).toList());
            List<MapForward> wanted = attached.stream().flatMap(d -> MapForward.of(d).stream()).toList();
            rollback.add(() -> forwards.removeTo(ownIps));
            PortForwards.Installed installed = forwards.install(wanted, ownIps);
            logEvictions(taskId, installed.evicted());
            // A leftover lease was reused with its MAC and address, so pinning it again changes nothing.
            List<Pin> pins = pinsOf(leases);
            guests.pin(pins);
            rollback.add(() -> guests.unpin(pins));
            for (int i = 0; i < devices.size(); i++) {
                String tap = leases.get(i).tap();
                if (leftover.contains(devices.get(i).device())) {
                    host.deleteTap(tap);
                }
                host.createTap(tap, settings.bridge(), settings.mtu(), uid, gid);
                rollback.add(() -> host.deleteTap(tap));
            }
            rollback.commit();
            NetworkTeardown teardown = new NetworkTeardown(taskId, attached.stream().map(DeviceAttachment::tap).toList(),
                    attached.stream().map(DeviceAttachment::ip).toList());
            log.info("task network attached", "task_id", taskId, "tap", teardown.taps().toString(),
                    "ip", teardown.ips().toString());
            return new Attachment(attached, teardown);
        } finally {
            reconcileLock.readLock().unlock();
        }
    }

    private void logEvictions(String taskId, List<MapForward> evicted) throws NetworkSetupException {
        if (evicted.isEmpty()) {
            return;
        }
        Map<String, String> owners = new HashMap<>();
        for (Lease lease : ipam.leases()) {
            owners.put(lease.ip(), lease.taskId());
        }
        for (MapForward forward : evicted) {
            String owner = owners.getOrDefault(forward.guestIp(), "");
            if (releasing.contains(owner)) {
                log.debug("replaced the port forward of a destroyed task the reaper had not yet removed",
                        "task_id", taskId, "evicted_task_id", owner, "forward", forward.element());
                continue;
            }
            // Left by a task whose release did not finish; it would have taken this task's traffic.
            log.warn("removed another task's port forward for a host endpoint this task now forwards",
                    "task_id", taskId, "evicted_task_id", owner.isEmpty() ? "(no lease)" : owner,
                    "forward", forward.element());
        }
    }

    /** The pins of these leases; one without a MAC (only a damaged lease file has one) cannot be pinned. */
    private static List<Pin> pinsOf(List<Lease> leases) {
        return leases.stream().filter(l -> !l.mac().isEmpty()).map(Pin::of).toList();
    }

    private static Map<String, Optional<String>> validate(List<DeviceRequest> devices)
            throws InvalidNetworkRequestException {
        Map<String, Optional<String>> macs = new LinkedHashMap<>();
        Set<String> hostEndpoints = new HashSet<>();
        for (DeviceRequest request : devices) {
            if (request.device().isEmpty()) {
                throw new InvalidNetworkRequestException("", "device", "", "a device name is required");
            }
            if (macs.containsKey(request.device())) {
                throw new InvalidNetworkRequestException(request.device(), "device", request.device(),
                        "each device may be attached only once");
            }
            Optional<String> mac = Optional.empty();
            if (request.mac().isPresent()) {
                mac = Optional.of(MacAddresses.parse(request.device(), request.mac().get()));
            }
            macs.put(request.device(), mac);
            for (PortForward forward : request.forwards()) {
                String endpoint = forward.hostIp() + ":" + forward.hostPort();
                if (!hostEndpoints.add(endpoint)) {
                    throw new InvalidNetworkRequestException(request.device(), "port " + forward.label(),
                            Integer.toString(forward.hostPort()), "this host port is forwarded twice");
                }
            }
        }
        return macs;
    }

    /**
     * Removes the task's rules, deletes its taps, unpins them and releases its leases. Missing
     * pieces count as removed; a failing step does not stop the others, and the failures are
     * reported together at the end. Leases stay while their pins may: an address is not handed
     * to another task while a stale pin would still let this tap send from it (reconcile removes both).
     */
    public void detach(NetworkTeardown teardown) throws NetworkSetupException {
        Release release = new Release(teardown, new CompletableFuture<>());
        reconcileLock.readLock().lock();
        try {
            reapBatch(List.of(release));
        } finally {
            reconcileLock.readLock().unlock();
        }
        try {
            release.done().join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof NetworkSetupException cause) {
                throw cause;
            }
            throw e;
        }
    }

    /**
     * Hands a task whose tender is gone to a background reaper, which removes its forwards, taps, pins
     * and lease right after: every deletion costs the kernel RCU grace periods whatever the tool (a link
     * ~25 ms, an nf_tables transaction that deletes rules or set elements 8-30 ms, measured here), which
     * no stop of a task should wait for. The reaper gathers what queues up within {@value #GATHER_MS} ms
     * and removes the forwards of all of it in one iptables-restore, then the taps, then the pins in one
     * nft transaction, then the leases in one write; the future completes when this task's are gone
     * (exceptionally, with what failed: a reconcile retries). Meanwhile nothing of the task can carry
     * traffic: its tender is gone, its address is not handed out, and its tap stays owned by its uid,
     * which the caller holds until the future completes. A new task given one of its host ports before
     * the reaper ran replaces its forward in its own batch, as it would a stale one.
     */
    public CompletableFuture<Void> release(NetworkTeardown teardown) {
        Release release = new Release(teardown, new CompletableFuture<>());
        releasing.add(teardown.taskId());
        pendingReleases.incrementAndGet();
        releases.add(release);
        startReaper();
        return release.done();
    }

    /** Waits up to {@code limit} for the releases queued so far; false when some are still pending. */
    public boolean awaitReleases(Duration limit) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        synchronized (pendingReleases) {
            while (pendingReleases.get() > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                pendingReleases.wait(Math.max(1, left / 1_000_000));
            }
        }
        return true;
    }

    private synchronized void startReaper() {
        if (reaper == null) {
            reaper = Thread.ofPlatform().daemon().name("network-reaper").start(this::reap);
        }
    }

    private void reap() {
        while (true) {
            List<Release> batch = new ArrayList<>();
            try {
                batch.add(releases.take());
                // Gather what follows (a job stopping its allocations): one nft transaction unpins them all.
                // Each deletion transaction holds nf_tables' commit lock for 8-28 ms, which every start's and
                // destroy's iptables-restore (iptables-nft) waits for.
                long until = System.nanoTime() + GATHER.toNanos();
                while (batch.size() < MAX_BATCH) {
                    Release next = releases.poll(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
                    if (next == null) {
                        break;
                    }
                    batch.add(next);
                }
            } catch (InterruptedException e) {
                return;
            }
            reconcileLock.readLock().lock();
            try {
                reapBatch(batch);
            } catch (RuntimeException e) {
                batch.forEach(r -> finish(r, e));
            } finally {
                reconcileLock.readLock().unlock();
                synchronized (pendingReleases) {
                    pendingReleases.addAndGet(-batch.size());
                    pendingReleases.notifyAll();
                }
            }
        }
    }

    /**
     * Forwards first (to an address that is not handed out again before they are gone), then taps (until
     * a tap is gone its pin is what keeps it in line), then pins, then the leases.
     */
    private void reapBatch(List<Release> batch) {
        Map<String, List<String>> problems = new LinkedHashMap<>();
        batch.forEach(r -> problems.put(r.teardown().taskId(), new ArrayList<>()));
        List<Lease> leases = List.of();
        try {
            leases = ipam.leases().stream().filter(l -> problems.containsKey(l.taskId())).toList();
        } catch (NetworkSetupException e) {
            problems.values().forEach(p -> p.add(e.getMessage()));
        }
        // Only what the tasks lease: an address in a teardown may since have gone to another task.
        Set<String> guestIps = new HashSet<>();
        leases.forEach(l -> guestIps.add(l.ip()));
        try {
            forwards.removeTo(guestIps);
        } catch (NetworkSetupException e) {
            problems.values().forEach(p -> p.add(e.getMessage()));
        }
        try {
            // Per-task iptables rules are what plugins before the nft maps forwarded with.
            rules.removeTasks(problems.keySet());
        } catch (NetworkSetupException e) {
            problems.values().forEach(p -> p.add(e.getMessage()));
        }
        // Link deletions run side by side: each waits ~20 ms for RCU after the kernel's rtnl lock is released,
        // so eight at a time removed 40 taps in 0.2 s here against 1 s one after another.
        List<Thread> deleters = new ArrayList<>();
        java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(PARALLEL_TAP_DELETIONS);
        for (Release release : batch) {
            Set<String> taps = new LinkedHashSet<>(release.teardown().taps());
            leases.stream().filter(l -> l.taskId().equals(release.teardown().taskId())).forEach(l -> taps.add(l.tap()));
            List<String> failures = problems.get(release.teardown().taskId());
            for (String tap : taps) {
                slots.acquireUninterruptibly();
                deleters.add(Thread.ofVirtual().name("delete-" + tap).start(() -> {
                    try {
                        host.deleteTap(tap);
                    } catch (NetworkSetupException e) {
                        synchronized (failures) {
                            failures.add(e.getMessage());
                        }
                    } finally {
                        slots.release();
                    }
                }));
            }
        }
        for (Thread deleter : deleters) {
            try {
                deleter.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                problems.values().forEach(p -> p.add("interrupted while deleting taps"));
                break;
            }
        }
        // A lease stays while its pin may: its address must not go to another task while a stale pin lets this tap send from it.
        List<String> releasable = new ArrayList<>();
        try {
            guests.unpin(pinsOf(leases.stream().filter(l -> problems.get(l.taskId()).isEmpty()).toList()));
            problems.forEach((task, p) -> {
                if (p.isEmpty()) {
                    releasable.add(task);
                }
            });
        } catch (NetworkSetupException e) {
            problems.values().forEach(p -> p.add(e.getMessage()));
        }
        try {
            ipam.release(releasable);
        } catch (NetworkSetupException e) {
            releasable.forEach(task -> problems.get(task).add(e.getMessage()));
        }
        for (Release release : batch) {
            List<String> failed = problems.get(release.teardown().taskId());
            if (failed.isEmpty()) {
                log.info("task network detached", "task_id", release.teardown().taskId(), "tap",
                        release.teardown().taps().toString());
                finish(release, null);
            } else {
                finish(release, new NetworkSetupException("releasing the network of task "
                        + release.teardown().taskId() + " left " + failed.size() + " problem(s); first: "
                        + failed.getFirst()));
            }
        }
    }

    /** Ends a release (failed when FAILURE is not null); the task leaves {@code releasing} first, so whoever waits
     *  for the release finds the task no longer releasing. */
    private void finish(Release release, Throwable failure) {
        releasing.remove(release.teardown().taskId());
        if (failure == null) {
            release.done().complete(null);
        } else {
            release.done().completeExceptionally(failure);
        }
    }

    /**
     * Removes everything of ours that belongs to no task in {@code keepTaskIds}: taps of
     * our shape, task rules, pins and leases; pins the kept tasks' taps that lack them.
     * Meant for plugin start, after recovery.
     */
    public ReconcileReport reconcile(Set<String> keepTaskIds) throws NetworkSetupException {
        reconcileLock.writeLock().lock();
        try {
            return ipam.lock().with(() -> reconcileLocked(keepTaskIds));
        } finally {
            reconcileLock.writeLock().unlock();
        }
    }

    private ReconcileReport reconcileLocked(Set<String> keep) throws NetworkSetupException {
        List<Lease> leases = ipam.leases();
        Set<String> keepTaps = new HashSet<>();
        Set<String> keepComments = new HashSet<>();
        for (String taskId : keep) {
            keepComments.add(IptablesRules.comment(taskId));
        }
        for (Lease lease : leases) {
            if (keep.contains(lease.taskId())) {
                keepTaps.add(lease.tap());
            }
        }
        List<String> problems = new ArrayList<>();
        List<String> removedTaps = new ArrayList<>();
        for (String tap : host.taps()) {
            if (!keepTaps.contains(tap)) {
                try {
                    if (host.deleteTap(tap)) {
                        removedTaps.add(tap);
                    }
                } catch (NetworkSetupException e) {
                    problems.add(e.getMessage());
                }
            }
        }
        List<String> removedRules = new ArrayList<>();
        try {
            rules.remove(rule -> rule.comment().filter(IptablesRules::isTaskComment)
                    .filter(c -> !keepComments.contains(c)).isPresent())
                    .forEach(rule -> removedRules.add(rule.describe()));
        } catch (NetworkSetupException e) {
            problems.add(e.getMessage());
        }
        boolean forwardsRemoved = false;
        try {
            Set<String> keepIps = new HashSet<>();
            leases.stream().filter(l -> keep.contains(l.taskId())).forEach(l -> keepIps.add(l.ip()));
            forwards.resync(keepIps).forEach(f -> removedRules.add(describe(f)));
            forwardsRemoved = true;
        } catch (NetworkSetupException e) {
            problems.add(e.getMessage());
        }
        List<Pin> removedPins = new ArrayList<>();
        List<String> pinnedTaps = new ArrayList<>();
        boolean pinsRemoved = false;
        try {
            List<Pin> present = guests.pins();
            List<Pin> wanted = pinsOf(leases.stream().filter(l -> keep.contains(l.taskId())).toList());
            List<Pin> doomed = present.stream().filter(p -> !wanted.contains(p)).toList();
            guests.unpin(doomed);
            removedPins.addAll(doomed);
            pinsRemoved = true;
            List<Pin> missing = wanted.stream().filter(p -> !present.contains(p)).toList();
            guests.pin(missing);
            missing.forEach(p -> pinnedTaps.add(p.tap()));
        } catch (NetworkSetupException e) {
            problems.add(e.getMessage());
        }
        List<Lease> released = new ArrayList<>();
        // While a pin or a forward may remain, its address is not handed to another task (see detach).
        List<String> releasable = !pinsRemoved || !forwardsRemoved ? List.of()
                : leases.stream().map(Lease::taskId).filter(id -> !keep.contains(id)).distinct().toList();
        for (String taskId : releasable) {
            try {
                released.addAll(ipam.release(taskId));
            } catch (NetworkSetupException e) {
                problems.add(e.getMessage());
            }
        }
        ReconcileReport report = new ReconcileReport(removedTaps, removedRules, removedPins, released, pinnedTaps,
                problems);
        if (!report.removedNothing() || !pinnedTaps.isEmpty() || !problems.isEmpty()) {
            log.info("task networks reconciled", "removed_taps", removedTaps.size(), "removed_rules",
                    removedRules.size(), "removed_pins", removedPins.size(), "released_leases", released.size(),
                    "pinned_taps", pinnedTaps.toString(), "problems", problems.toString());
        }
        return report;
    }

    /** Every task network on the node and everything of ours that belongs to none. */
    public NetworkStatus status() throws NetworkSetupException {
        List<Lease> leases = ipam.leases();
        Set<String> taps = new HashSet<>(host.taps());
        List<SavedRule> present = firewall.rules();
        List<MapForward> forwarded = forwards.listed();
        Map<String, List<Lease>> byTask = new TreeMap<>();
        for (Lease lease : leases) {
            byTask.computeIfAbsent(lease.taskId(), id -> new ArrayList<>()).add(lease);
        }
        Set<String> leasedTaps = new HashSet<>();
        Set<String> leasedComments = new HashSet<>();
        List<TaskNetwork> tasks = new ArrayList<>();
        for (Map.Entry<String, List<Lease>> task : byTask.entrySet()) {
            String comment = IptablesRules.comment(task.getKey());
            leasedComments.add(comment);
            List<String> missing = new ArrayList<>();
            for (Lease lease : task.getValue()) {
                leasedTaps.add(lease.tap());
                if (!taps.contains(lease.tap())) {
                    missing.add(lease.tap());
                }
            }
            Set<String> ips = new HashSet<>(task.getValue().stream().map(Lease::ip).toList());
            List<String> taskRules = new ArrayList<>(forwarded.stream().filter(f -> ips.contains(f.guestIp()))
                    .map(NetworkManager::describe).toList());
            present.stream().filter(r -> r.comment().map(comment::equals).orElse(false))
                    .map(SavedRule::describe).forEach(taskRules::add);
            tasks.add(new TaskNetwork(task.getKey(), task.getValue(), missing, taskRules));
        }
        List<String> orphanTaps = taps.stream().filter(t -> !leasedTaps.contains(t)).sorted().toList();
        Set<String> leasedIps = new HashSet<>(leases.stream().map(Lease::ip).toList());
        List<String> orphanRules = new ArrayList<>(forwarded.stream().filter(f -> !leasedIps.contains(f.guestIp()))
                .map(NetworkManager::describe).toList());
        present.stream()
                .filter(r -> r.comment().filter(IptablesRules::isTaskComment).filter(c -> !leasedComments.contains(c))
                        .isPresent())
                .map(SavedRule::describe).forEach(orphanRules::add);
        List<Lease> stale = leases.stream()
                .filter(l -> !Ipv4.isAssignable(settings.subnet(), l.address())).toList();
        return new NetworkStatus(host.bridgeExists(settings.bridge()), tasks, orphanTaps, orphanRules, stale);
    }

    /** A forward as status and reconcile reports show it: {@code nft fwd_local tcp . 8080 : 10.99.0.2 . 80}. */
    private static String describe(MapForward forward) {
        return "nft " + forward.map() + " " + forward.element();
    }
}
