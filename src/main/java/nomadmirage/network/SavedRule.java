package nomadmirage.network;

import java.util.Optional;

/**
 * One rule as {@code iptables-save} prints it: {@code -A <chain> <spec>}. The spec is
 * kept verbatim because deleting a rule needs exactly the text iptables would print.
 */
public record SavedRule(String table, String chain, String spec, Optional<String> comment) {
    /** The {@code iptables-restore} line that appends this rule. */
    public String appendLine() {
        return "-A " + chain + " " + spec;
    }

    /** The {@code iptables-restore} line that deletes this rule. */
    public String deleteLine() {
        return "-D " + chain + " " + spec;
    }

    /** For status and reports: {@code nat: -A NOMAD_MG_PRE ...}. */
    public String describe() {
        return table + ": " + appendLine();
    }

    boolean sameRule(SavedRule other) {
        return table.equals(other.table) && chain.equals(other.chain) && spec.equals(other.spec);
    }
}
