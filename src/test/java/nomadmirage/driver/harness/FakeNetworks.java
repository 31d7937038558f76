package nomadmirage.driver.harness;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import nomadmirage.config.PluginConfig;
import nomadmirage.driver.TaskNetworks;
import nomadmirage.network.Attachment;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.DeviceRequest;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.NetworkTeardown;
import nomadmirage.network.ReconcileReport;
import nomadmirage.network.TapNames;
import nomadmirage.proc.TaskUser;

/**
 * Host networking in memory: attach creates the task's taps (named as the real service names
 * them) and hands out addresses; detach removes the taps it is told about. Either can be made to
 * fail, and a hook runs inside attach (after the driver's earlier steps, before its later ones).
 */
public final class FakeNetworks implements TaskNetworks {
    private final Journal journal;
    /** task id → its taps present on the fake host. */
    private final Map<String, Set<String>> taps = new TreeMap<>();
    private final AtomicInteger nextHost = new AtomicInteger(2);
    private volatile NetworkSetupException attachFailure;
    private volatile NetworkSetupException detachFailure;
    private volatile Runnable duringAttach = () -> { };

    public FakeNetworks(Journal journal) {
        this.journal = journal;
    }

    /** Every later attach fails with {@code failure} (an InvalidNetworkRequestException is the job's fault); null to stop. */
    public void failAttach(NetworkSetupException failure) {
        this.attachFailure = failure;
    }

    public void failDetach(NetworkSetupException failure) {
        this.detachFailure = failure;
    }

    public void duringAttach(Runnable hook) {
        this.duringAttach = hook;
    }

    /** The task ids that have taps on the host now. */
    public synchronized Set<String> attached() {
        return new TreeSet<>(taps.keySet());
    }

    public synchronized Set<String> tapsOf(String taskId) {
        return new TreeSet<>(taps.getOrDefault(taskId, Set.of()));
    }

    @Override
    public Attachment attach(PluginConfig plugin, String taskId, Optional<TaskUser> user, List<DeviceRequest> devices)
            throws NetworkSetupException {
        journal.add("network.attach " + taskId + " " + devices.stream().map(DeviceRequest::device).toList());
        duringAttach.run();
        NetworkSetupException failure = attachFailure;
        if (failure != null) {
            throw failure;
        }
        List<DeviceAttachment> out = new ArrayList<>();
        for (DeviceRequest d : devices) {
            int host = nextHost.getAndIncrement();
            String ip = d.staticIp().orElse("10.99." + (host / 250) + "." + (host % 250 + 2));
            out.add(new DeviceAttachment(d.device(), TapNames.forDevice(taskId, d.device()),
                    d.mac().orElse(String.format("02:00:00:00:%02x:%02x", (host >> 8) & 0xff, host & 0xff)),
                    ip, 16, "10.99.0.1", d.forwards()));
        }
        synchronized (this) {
            Set<String> present = taps.computeIfAbsent(taskId, k -> new TreeSet<>());
            out.forEach(a -> present.add(a.tap()));
        }
        return new Attachment(out, new NetworkTeardown(taskId, out.stream().map(DeviceAttachment::tap).toList(),
                out.stream().map(DeviceAttachment::ip).toList()));
    }

    @Override
    public void detach(PluginConfig plugin, NetworkTeardown teardown) throws NetworkSetupException {
        journal.add("network.detach " + teardown.taskId());
        NetworkSetupException failure = detachFailure;
        if (failure != null) {
            throw failure;
        }
        synchronized (this) {
            Set<String> present = taps.get(teardown.taskId());
            if (present != null) {
                present.removeAll(teardown.taps());
                if (present.isEmpty()) {
                    taps.remove(teardown.taskId());
                }
            }
        }
    }

    @Override
    public Optional<ReconcileReport> reconcile(PluginConfig plugin, Set<String> keep) {
        journal.add("network.reconcile keep=" + new TreeSet<>(keep));
        synchronized (this) {
            taps.keySet().removeIf(id -> !keep.contains(id));
        }
        return Optional.empty();
    }
}
