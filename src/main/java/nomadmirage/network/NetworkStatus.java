package nomadmirage.network;

import java.util.List;

/**
 * The node's task networks and what does not belong to any of them: taps of our
 * shape with no lease, task rules whose task holds no lease, and leases left
 * outside the subnet by a configuration change. Without the bridge in the
 * namespace read ({@code bridgePresent} false), every tap looks missing.
 */
public record NetworkStatus(boolean bridgePresent, List<TaskNetwork> tasks, List<String> orphanTaps,
        List<String> orphanRules, List<Lease> staleLeases) {
    public NetworkStatus {
        tasks = List.copyOf(tasks);
        orphanTaps = List.copyOf(orphanTaps);
        orphanRules = List.copyOf(orphanRules);
        staleLeases = List.copyOf(staleLeases);
    }
}
