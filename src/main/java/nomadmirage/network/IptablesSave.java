package nomadmirage.network;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses {@code iptables-save} output, and {@code iptables -S CHAIN} output (the same rule
 * syntax, one chain), into the rules of our chains.
 */
public final class IptablesSave {
    private static final Pattern COMMENT = Pattern.compile("(?:^|\\s)--comment\\s+(?:\"((?:[^\"\\\\]|\\\\.)*)\"|(\\S+))");

    private IptablesSave() {
    }

    /** Every {@code -A} rule in one of our chains, in the order printed. */
    public static List<SavedRule> ourRules(String saveOutput) {
        return rules(saveOutput, Chain::isOurs);
    }

    /** Every {@code -A} rule of any chain, in the order printed (a namespace of an allocation's, whose built-in chains hold ours). */
    public static List<SavedRule> allRules(String saveOutput) {
        return rules(saveOutput, (table, chain) -> true);
    }

    private static List<SavedRule> rules(String saveOutput, java.util.function.BiPredicate<String, String> chains) {
        List<SavedRule> rules = new ArrayList<>();
        String table = "";
        for (String raw : saveOutput.split("\n")) {
            String line = raw.strip();
            if (line.startsWith("*")) {
                table = line.substring(1);
            } else if (line.startsWith("-A ")) {
                int space = line.indexOf(' ', 3);
                if (space < 0) {
                    continue;
                }
                String chain = line.substring(3, space);
                if (chains.test(table, chain)) {
                    String spec = line.substring(space + 1);
                    rules.add(new SavedRule(table, chain, spec, comment(spec)));
                }
            }
        }
        return rules;
    }

    /**
     * The rules of one of our chains as {@code iptables -t TABLE -S CHAIN} prints them: a
     * {@code -N CHAIN} line, then one {@code -A CHAIN spec} line per rule, in chain order.
     */
    public static List<SavedRule> chainRules(Chain chain, String listing) {
        List<SavedRule> rules = new ArrayList<>();
        String prefix = "-A " + chain.chainName() + " ";
        for (String raw : listing.split("\n")) {
            String line = raw.strip();
            if (line.startsWith(prefix)) {
                String spec = line.substring(prefix.length());
                rules.add(new SavedRule(chain.table(), chain.chainName(), spec, comment(spec)));
            }
        }
        return rules;
    }

    /** Whether {@code iptables-save -t TABLE} output declares the chain ({@code :NAME POLICY [p:b]}). */
    static boolean declaresChain(String saveOutput, String chainName) {
        String prefix = ":" + chainName + " ";
        for (String raw : saveOutput.split("\n")) {
            if (raw.strip().startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    static Optional<String> comment(String spec) {
        Matcher m = COMMENT.matcher(spec);
        if (!m.find()) {
            return Optional.empty();
        }
        if (m.group(1) != null) {
            return Optional.of(m.group(1).replaceAll("\\\\(.)", "$1"));
        }
        return Optional.of(m.group(2));
    }
}
