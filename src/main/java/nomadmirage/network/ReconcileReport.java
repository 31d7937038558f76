package nomadmirage.network;

import java.util.List;

/** What {@link NetworkManager#reconcile} removed, and what it could not. */
public record ReconcileReport(List<String> removedTaps, List<String> removedRules, List<Lease> releasedLeases,
        List<String> problems) {
    public ReconcileReport {
        removedTaps = List.copyOf(removedTaps);
        removedRules = List.copyOf(removedRules);
        releasedLeases = List.copyOf(releasedLeases);
        problems = List.copyOf(problems);
    }

    public boolean removedNothing() {
        return removedTaps.isEmpty() && removedRules.isEmpty() && releasedLeases.isEmpty();
    }
}
