package nomadmirage.network;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Lines for one {@code iptables-restore --noflush} run, grouped by table, in the order added;
 * the kernel applies each table's section all-or-nothing. Never holds chain
 * declarations ({@code :CHAIN}): with --noflush those flush an existing chain.
 * A line added twice is kept once, except a deletion: each {@code -D} deletes one
 * copy, so a rule listed twice needs it twice.
 */
public final class RuleBatch {
    private final Map<String, List<String>> lines = new LinkedHashMap<>();
    private final Set<String> added = new HashSet<>();

    public RuleBatch add(String table, String line) {
        if (line.startsWith("-D ") || added.add(table + "\n" + line)) {
            lines.computeIfAbsent(table, t -> new ArrayList<>()).add(line);
        }
        return this;
    }

    public boolean isEmpty() {
        return lines.isEmpty();
    }

    public List<String> lines() {
        List<String> out = new ArrayList<>();
        lines.values().forEach(out::addAll);
        return out;
    }

    /** The text fed to {@code iptables-restore --noflush}. */
    public String render() {
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, List<String>> table : lines.entrySet()) {
            out.append('*').append(table.getKey()).append('\n');
            for (String line : table.getValue()) {
                out.append(line).append('\n');
            }
            out.append("COMMIT\n");
        }
        return out.toString();
    }

    @Override
    public String toString() {
        return render();
    }
}
