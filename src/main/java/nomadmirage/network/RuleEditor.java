package nomadmirage.network;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/** Removes, installs and reconciles rules in our chains by what the firewall lists. */
final class RuleEditor {
    private final Firewall firewall;
    /**
     * Our chains as last listed, plus the changes this editor made since: removing a task's rules (left
     * by plugins before the nft maps) looks here instead of listing every chain again. Null when
     * unknown; dropped after any failed batch.
     */
    private List<SavedRule> known;

    RuleEditor(Firewall firewall) {
        this.firewall = firewall;
    }

    /**
     * Deletes every rule of our chains that matches, in one batch; returns them. A rule
     * that vanished between listing and deleting fails the batch, so it is retried once.
     */
    List<SavedRule> remove(Predicate<SavedRule> which) throws NetworkSetupException {
        return remove(which, true);
    }

    private List<SavedRule> remove(Predicate<SavedRule> which, boolean fresh) throws NetworkSetupException {
        try {
            return removeOnce(which, fresh);
        } catch (NetworkSetupException first) {
            try {
                return removeOnce(which, true);
            } catch (NetworkSetupException second) {
                second.addSuppressed(first);
                throw second;
            }
        }
    }

    private List<SavedRule> removeOnce(Predicate<SavedRule> which, boolean fresh) throws NetworkSetupException {
        List<SavedRule> doomed = listed(fresh).stream().filter(which).toList();
        apply(IptablesRules.removal(doomed), doomed, List.of());
        return doomed;
    }

    /** {@link #removeTask} for several tasks, in one batch. */
    List<SavedRule> removeTasks(java.util.Collection<String> taskIds) throws NetworkSetupException {
        Set<String> comments = new java.util.HashSet<>();
        taskIds.forEach(id -> comments.add(IptablesRules.comment(id)));
        return remove(rule -> rule.comment().map(comments::contains).orElse(false), false);
    }

    /**
     * Removes a task's rules as this editor knows them (listing our chains costs ~20 ms at 500 tasks);
     * a rule that is no longer there fails the batch, and the retry works from a fresh listing.
     */
    List<SavedRule> removeTask(String taskId) throws NetworkSetupException {
        String comment = IptablesRules.comment(taskId);
        return remove(rule -> rule.comment().map(comment::equals).orElse(false), false);
    }

    /**
     * Makes the rules carrying {@code comment} exactly {@code wanted}: missing ones are
     * added, others (left by an older setting, or duplicated) deleted, all in one batch.
     * Returns whether anything changed.
     */
    boolean sync(String comment, List<SavedRule> wanted) throws NetworkSetupException {
        RuleBatch batch = new RuleBatch();
        Changes changes = syncInto(batch, comment, listed(true), wanted);
        apply(batch, changes.deleted(), changes.added());
        return !batch.isEmpty();
    }

    private record Changes(List<SavedRule> deleted, List<SavedRule> added) {
    }

    private synchronized List<SavedRule> listed(boolean fresh) throws NetworkSetupException {
        if (fresh || known == null) {
            known = null;
            known = new ArrayList<>(firewall.rules());
        }
        return List.copyOf(known);
    }

    private void apply(RuleBatch batch, List<SavedRule> deleted, List<SavedRule> added) throws NetworkSetupException {
        try {
            firewall.apply(batch);
        } catch (NetworkSetupException | RuntimeException e) {
            synchronized (this) {
                known = null;
            }
            throw e;
        }
        synchronized (this) {
            if (known == null) {
                return;
            }
            for (SavedRule rule : deleted) {
                for (int i = 0; i < known.size(); i++) {
                    if (known.get(i).sameRule(rule)) {
                        known.remove(i);
                        break;
                    }
                }
            }
            known.addAll(added);
        }
    }

    private static Changes syncInto(RuleBatch batch, String comment, List<SavedRule> listed, List<SavedRule> wanted) {
        List<SavedRule> deleted = new ArrayList<>();
        List<SavedRule> added = new ArrayList<>();
        List<SavedRule> present = listed.stream()
                .filter(rule -> rule.comment().map(comment::equals).orElse(false)).toList();
        List<SavedRule> kept = new ArrayList<>();
        for (SavedRule rule : present) {
            boolean isWanted = wanted.stream().anyMatch(rule::sameRule);
            boolean duplicate = kept.stream().anyMatch(rule::sameRule);
            if (isWanted && !duplicate) {
                kept.add(rule);
            } else {
                batch.add(rule.table(), rule.deleteLine());
                deleted.add(rule);
            }
        }
        for (SavedRule rule : wanted) {
            if (kept.stream().noneMatch(rule::sameRule)) {
                batch.add(rule.table(), rule.appendLine());
                added.add(rule);
            }
        }
        return new Changes(deleted, added);
    }
}
