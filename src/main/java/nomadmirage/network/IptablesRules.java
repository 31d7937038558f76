package nomadmirage.network;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import nomadmirage.config.Ipv4Cidr;

/**
 * The rules this plugin installs, in the exact form {@code iptables-save} prints
 * them (so that comparing with a listing needs no normalisation). Each rule is
 * tagged with a comment naming its owner: {@code mirage:<taskId>} or {@code mirage:pool}.
 */
public final class IptablesRules {
    public static final String COMMENT_PREFIX = "mirage:";
    public static final String POOL_COMMENT = COMMENT_PREFIX + "pool";
    /** Characters that survive iptables' quoting unchanged; other task ids are hashed. */
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_.:/@+=-]+");
    /** xt_comment keeps 255 bytes plus NUL. */
    private static final int MAX_COMMENT = 255;
    private static final String[] PROTOCOLS = {"tcp", "udp"};
    /** A DNAT rule as {@link #taskRules} writes it (and iptables prints it back). */
    private static final Pattern DNAT = Pattern.compile("(?:-d (?<ip>\\d{1,3}(?:\\.\\d{1,3}){3})/32 )?"
            + "-p (?<proto>tcp|udp) -m (?<module>tcp|udp) --dport (?<port>\\d{1,5})"
            + "(?: -m addrtype --dst-type LOCAL)? -m comment --comment \\S.* -j DNAT --to-destination \\S+");

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

    /** DNAT of each forward (TCP and UDP, from outside and from the host itself) and the matching accept. */
    public static RuleBatch forTask(String taskId, List<DeviceAttachment> devices) {
        RuleBatch batch = new RuleBatch();
        for (SavedRule rule : taskRules(taskId, devices)) {
            batch.add(rule.table(), rule.appendLine());
        }
        return batch;
    }

    public static List<SavedRule> taskRules(String taskId, List<DeviceAttachment> devices) {
        String tag = tag(comment(taskId));
        List<SavedRule> nat = new ArrayList<>();
        List<SavedRule> filter = new ArrayList<>();
        for (DeviceAttachment device : devices) {
            if (device.forwards().isEmpty()) {
                continue;
            }
            String guest = device.ip() + "/32";
            for (PortForward forward : device.forwards()) {
                for (String proto : PROTOCOLS) {
                    String match = forward.hostIp().isEmpty()
                            ? "-p " + proto + " -m " + proto + " --dport " + forward.hostPort()
                                    + " -m addrtype --dst-type LOCAL"
                            : "-d " + forward.hostIp() + "/32 -p " + proto + " -m " + proto + " --dport " + forward.hostPort();
                    String dnat = match + tag + " -j DNAT --to-destination " + device.ip() + ":" + forward.guestPort();
                    nat.add(rule(Chain.PRE, dnat));
                    nat.add(rule(Chain.OUT, dnat));
                    filter.add(rule(Chain.FWD, "-d " + guest + " -p " + proto + " -m " + proto + " --dport "
                            + forward.guestPort() + tag + " -j ACCEPT"));
                }
            }
            // A connection from 127.0.0.1 keeps that source after DNAT; the guest could not answer it.
            nat.add(rule(Chain.POST, "-s 127.0.0.0/8 -d " + guest + tag + " -j MASQUERADE"));
        }
        List<SavedRule> all = new ArrayList<>(nat);
        all.addAll(filter);
        return dedupe(all);
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
                // route_localnet on the bridge lets guests address the host's 127.0.0.0/8; only replies may pass.
                rule(Chain.IN, "-d 127.0.0.0/8 -i " + bridge + " -m conntrack ! --ctstate RELATED,ESTABLISHED" + tag
                        + " -j DROP"));
    }

    /**
     * What a DNAT rule of ours forwards: a protocol, a host port, and the host address ({@code -d},
     * empty when the rule takes every local address). Empty for any other rule, and for a rule
     * with a shape we do not write (a negation, a port range, a network as destination).
     */
    static Optional<HostEndpoint> forwardedEndpoint(SavedRule rule) {
        if (!rule.table().equals(Chain.PRE.table())
                || !(rule.chain().equals(Chain.PRE.chainName()) || rule.chain().equals(Chain.OUT.chainName()))) {
            return Optional.empty();
        }
        Matcher m = DNAT.matcher(rule.spec());
        if (!m.matches() || !m.group("proto").equals(m.group("module"))) {
            return Optional.empty();
        }
        int port = Integer.parseInt(m.group("port"));
        if (port < 1 || port > 65535) {
            return Optional.empty();
        }
        return Optional.of(new HostEndpoint(m.group("proto"), m.group("ip") == null ? "" : m.group("ip"), port));
    }

    /**
     * The DNAT rules of other tasks in {@code present} that would shadow one of the forwards in
     * {@code wanted} (the rules {@link #taskRules} made for {@code taskId}): same protocol and host
     * port, on the same address or with either side taking every local address. Rules are
     * matched in chain order, so such a rule, being older, would win over the new task's.
     */
    static List<SavedRule> shadowing(String taskId, List<SavedRule> wanted, List<SavedRule> present) {
        String own = comment(taskId);
        List<HostEndpoint> forwarded = wanted.stream().map(IptablesRules::forwardedEndpoint).flatMap(Optional::stream)
                .toList();
        if (forwarded.isEmpty()) {
            return List.of();
        }
        Set<Integer> ports = forwarded.stream().map(HostEndpoint::port).collect(Collectors.toSet());
        return present.stream()
                .filter(rule -> ports.contains(dport(rule.spec())))
                .filter(rule -> rule.comment().filter(IptablesRules::isTaskComment).filter(c -> !c.equals(own)).isPresent())
                .filter(rule -> forwardedEndpoint(rule).filter(e -> forwarded.stream().anyMatch(e::overlaps)).isPresent())
                .toList();
    }

    /** The number after the first {@code --dport}, or -1: a cheap first look before the full match. */
    private static int dport(String spec) {
        int at = spec.indexOf(" --dport ");
        if (at < 0) {
            return -1;
        }
        int value = 0;
        int digits = 0;
        for (int i = at + " --dport ".length(); i < spec.length() && Character.isDigit(spec.charAt(i)) && digits < 6; i++) {
            value = value * 10 + (spec.charAt(i) - '0');
            digits++;
        }
        return digits == 0 ? -1 : value;
    }

    /** The owner a task comment names: the task id, or {@code ~HASH} for an id that had to be hashed. */
    static String owner(String comment) {
        return comment.startsWith(COMMENT_PREFIX) ? comment.substring(COMMENT_PREFIX.length()) : comment;
    }

    /** A host endpoint a task forwards; an empty {@code address} is every local address. */
    record HostEndpoint(String protocol, String address, int port) {
        boolean overlaps(HostEndpoint other) {
            return protocol.equals(other.protocol) && port == other.port
                    && (address.isEmpty() || other.address.isEmpty() || address.equals(other.address));
        }

        @Override
        public String toString() {
            return (address.isEmpty() ? "*" : address) + ":" + port + "/" + protocol;
        }
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

    private static List<SavedRule> dedupe(List<SavedRule> rules) {
        List<SavedRule> out = new ArrayList<>();
        for (SavedRule rule : rules) {
            if (out.stream().noneMatch(rule::sameRule)) {
                out.add(rule);
            }
        }
        return out;
    }
}
