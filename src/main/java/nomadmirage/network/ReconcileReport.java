package nomadmirage.network;

import java.util.List;

/**
 * What {@link NetworkManager#reconcile} removed, what it could not, and the kept taps it found unpinned
 * (started by a plugin that did not pin guests) and pinned.
 */
public record ReconcileReport(List<String> removedTaps, List<String> removedRules, List<Pin> removedPins,
        List<Lease> releasedLeases, List<String> pinnedTaps, List<String> problems) {
    public ReconcileReport {
        removedTaps = List.copyOf(removedTaps);
        removedRules = List.copyOf(removedRules);
        removedPins = List.copyOf(removedPins);
        pinnedTaps = List.copyOf(pinnedTaps);
        releasedLeases = List.copyOf(releasedLeases);
        problems = List.copyOf(problems);
    }

    public boolean removedNothing() {
        return removedTaps.isEmpty() && removedRules.isEmpty() && removedPins.isEmpty() && releasedLeases.isEmpty();
    }
}
