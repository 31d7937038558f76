package nomadmirage.network;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Our chains in memory, changed by batches of -A/-D lines like iptables-restore does (all or nothing). */
final class FakeFirewall implements Firewall {
    final List<SavedRule> rules = new ArrayList<>();
    boolean failApply;
    int ensureCalls;
    int applyCalls;
    /** Runs (once) at the start of the next apply, as another process changing the rules would. */
    Runnable beforeApply;

    @Override
    public void ensureChains() {
        ensureCalls++;
    }

    @Override
    public synchronized List<SavedRule> rules() {
        return List.copyOf(rules);
    }

    @Override
    public synchronized void apply(RuleBatch batch) throws NetworkSetupException {
        applyCalls++;
        if (beforeApply != null) {
            Runnable hook = beforeApply;
            beforeApply = null;
            hook.run();
        }
        if (failApply && batch.lines().stream().anyMatch(l -> l.startsWith("-A"))) {
            throw new NetworkSetupException("network command failed: iptables-restore: exited 1: line 2 failed");
        }
        List<SavedRule> next = new ArrayList<>(rules);
        String table = "";
        for (String line : batch.render().split("\n")) {
            if (line.startsWith("*")) {
                table = line.substring(1);
            } else if (line.startsWith("-A ") || line.startsWith("-D ")) {
                String rest = line.substring(3);
                int space = rest.indexOf(' ');
                SavedRule rule = new SavedRule(table, rest.substring(0, space), rest.substring(space + 1),
                        Optional.empty());
                rule = new SavedRule(rule.table(), rule.chain(), rule.spec(), IptablesSave.comment(rule.spec()));
                if (line.startsWith("-A ")) {
                    next.add(rule);
                } else {
                    SavedRule target = rule;
                    int index = indexOf(next, target);
                    if (index < 0) {
                        throw new NetworkSetupException("iptables-restore: Bad rule: " + line);
                    }
                    next.remove(index);
                }
            }
        }
        rules.clear();
        rules.addAll(next);
    }

    private static int indexOf(List<SavedRule> rules, SavedRule rule) {
        for (int i = 0; i < rules.size(); i++) {
            if (rules.get(i).sameRule(rule)) {
                return i;
            }
        }
        return -1;
    }
}
