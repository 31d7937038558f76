package nomadmirage.network;

import java.util.List;
import java.util.regex.Pattern;
import nomadmirage.config.Ipv4Cidr;

/**
 * The rules this plugin installs, in the exact form {@code iptables-save} prints
 * them (so that comparing with a listing needs no normalisation), tagged {@code mirage:pool}. Port
 * forwards are elements of nft maps ({@link NftForwards}); plugins before those tagged per-task rules
 * {@code mirage:<taskId>}, which are still recognised so that they can be removed.
 */
public final class IptablesRules {
    public static final String COMMENT_PREFIX = "mirage:";
    public static final String POOL_COMMENT = COMMENT_PREFIX + "pool";
    /** Characters that survive iptables' quoting unchanged; other task ids are hashed. */
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_.:/@+=-]+");
    /** xt_comment keeps 255 bytes plus NUL. */
    private static final int MAX_COMMENT = 255;

    private IptablesRules() {
    }

    /** The comment that tags a task's rules. */
    public static String comment(String taskId) {
        String plain = COMMENT_PREFIX + taskId;
        if (PLAIN.matcher(taskId).matches() && plain.length() <= MAX_COMMENT && !plain.equals(POOL_COMMENT)) {
            return plain;
        }
        return COMMENT_PREFIX + "~" + Hashes.base32(Hashes.sha256(taskId), 26);
    }

    /** Whether a comment marks a task's rule (rather than a pool rule or someone else's). */
    public static boolean isTaskComment(String comment) {
        return comment.startsWith(COMMENT_PREFIX) && !comment.equals(POOL_COMMENT);
    }

    /** The node-wide rules for the bridge and its subnet, installed once. */
    public static List<SavedRule> pool(String bridge, Ipv4Cidr subnet) {
        String tag = tag(POOL_COMMENT);
        return List.of(
                rule(Chain.POST, "-s " + subnet + " ! -d " + subnet + tag + " -j MASQUERADE"),
                // A guest reaching a published port through a host address, possibly its own (hairpin).
                rule(Chain.POST, "-s " + subnet + " -d " + subnet + " -m conntrack --ctstate DNAT" + tag + " -j MASQUERADE"),
                rule(Chain.FWD, "-i " + bridge + tag + " -j ACCEPT"),
                rule(Chain.FWD, "-o " + bridge + " -m conntrack --ctstate RELATED,ESTABLISHED" + tag + " -j ACCEPT"),
                // New connections towards a guest only as forwarded by a map of NftForwards (or the host's own DNAT).
                rule(Chain.FWD, "-d " + subnet + " -o " + bridge + " -m conntrack --ctstate DNAT" + tag + " -j ACCEPT"),
                // A connection from 127.0.0.1 keeps that source after DNAT; the guest could not answer it.
                rule(Chain.POST, "-s 127.0.0.0/8 -d " + subnet + tag + " -j MASQUERADE"),
                // route_localnet on the bridge lets guests address the host's 127.0.0.0/8; only replies may pass.
                rule(Chain.IN, "-d 127.0.0.0/8 -i " + bridge + " -m conntrack ! --ctstate RELATED,ESTABLISHED" + tag
                        + " -j DROP"));
    }

    /** One batch that deletes the given rules (as listed by iptables-save). */
    public static RuleBatch removal(List<SavedRule> rules) {
        RuleBatch batch = new RuleBatch();
        for (SavedRule rule : rules) {
            batch.add(rule.table(), rule.deleteLine());
        }
        return batch;
    }

    private static SavedRule rule(Chain chain, String spec) {
        return new SavedRule(chain.table(), chain.chainName(), spec, IptablesSave.comment(spec));
    }

    private static String tag(String comment) {
        return " -m comment --comment \"" + comment + "\"";
    }
}
