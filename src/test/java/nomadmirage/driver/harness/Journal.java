package nomadmirage.driver.harness;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * What the fake host saw, in order, across every fake (user lookups, network attach and detach,
 * launches, signals, exits). A probe, when set, is evaluated at each entry and appended to it, so a
 * test can see what existed on disk at the moment of each step (e.g. whether the run directory
 * was still there when the network was detached).
 */
public final class Journal {
    private final List<String> entries = new ArrayList<>();
    private volatile Supplier<String> probe;

    public void add(String entry) {
        Supplier<String> p = probe;
        String line = p == null ? entry : entry + " | " + p.get();
        synchronized (entries) {
            entries.add(line);
        }
    }

    /** Evaluated at every later entry and appended to it after " | "; null to stop. */
    public void probe(Supplier<String> probe) {
        this.probe = probe;
    }

    public List<String> entries() {
        synchronized (entries) {
            return List.copyOf(entries);
        }
    }

    /** The entries whose text starts with one of {@code prefixes}, in order. */
    public List<String> matching(String... prefixes) {
        Predicate<String> wanted = e -> {
            for (String prefix : prefixes) {
                if (e.startsWith(prefix)) {
                    return true;
                }
            }
            return false;
        };
        return entries().stream().filter(wanted).toList();
    }

    public void clear() {
        synchronized (entries) {
            entries.clear();
        }
    }

    @Override
    public String toString() {
        return String.join("\n", entries());
    }
}
