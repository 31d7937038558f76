package nomadmirage.driver;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.Optional;
import java.util.Set;
import nomadmirage.config.PluginConfig;
import nomadmirage.network.Attachment;
import nomadmirage.network.DeviceRequest;
import nomadmirage.network.InvalidNetworkRequestException;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.NetworkTeardown;
import nomadmirage.network.ReconcileReport;
import nomadmirage.proc.TaskUser;

/** The lifecycle's port to host networking: attach a task's devices, detach them, reconcile orphans. */
public interface TaskNetworks {
    /** Leases, pins, taps and port forwards for the devices (see {@link nomadmirage.network.NetworkManager#attach}). */
    Attachment attach(PluginConfig plugin, String taskId, Optional<TaskUser> user, List<DeviceRequest> devices)
            throws InvalidNetworkRequestException, NetworkSetupException;

    /** Group mode: the task's taps and rules in the allocation's network namespace at {@code netns}. */
    default Attachment attachGroup(PluginConfig plugin, java.nio.file.Path netns, String taskId,
            Optional<TaskUser> user, List<DeviceRequest> devices) throws InvalidNetworkRequestException,
            NetworkSetupException {
        throw new NetworkSetupException("group networking is not available here");
    }

    /** Group mode: removes the task's taps and rules from the namespace, if it still exists. */
    default void detachGroup(PluginConfig plugin, java.nio.file.Path netns, NetworkTeardown teardown)
            throws NetworkSetupException {
    }

    /** Removes a task's rules, taps and leases; missing pieces count as removed. */
    void detach(PluginConfig plugin, NetworkTeardown teardown) throws NetworkSetupException;

    /**
     * Removes a task's forwards now, and its taps, pins and leases in the background; the future
     * completes once they are gone (see {@link nomadmirage.network.NetworkManager#release}).
     */
    default CompletableFuture<Void> release(PluginConfig plugin, NetworkTeardown teardown) throws NetworkSetupException {
        detach(plugin, teardown);
        return CompletableFuture.completedFuture(null);
    }

    /** Waits up to {@code limit} for the background releases queued so far (at shutdown). */
    default void awaitReleases(Duration limit) throws InterruptedException {
    }

    /** Removes what belongs to no task in {@code keep}; empty when no networked task ever ran here. */
    Optional<ReconcileReport> reconcile(PluginConfig plugin, Set<String> keep) throws NetworkSetupException;
}
