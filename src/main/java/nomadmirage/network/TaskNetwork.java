package nomadmirage.network;

import java.util.List;

/** One task's network as found on the host: its leases (with tap names), taps that are missing, and its rules. */
public record TaskNetwork(String taskId, List<Lease> leases, List<String> missingTaps, List<String> rules) {
    public TaskNetwork {
        leases = List.copyOf(leases);
        missingTaps = List.copyOf(missingTaps);
        rules = List.copyOf(rules);
    }
}
