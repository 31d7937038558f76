package nomadmirage.network;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nomadmirage.log.Logger;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;
import nomadmirage.state.Rollback;

/**
 * Task networks in Nomad's group ("bridge") mode: everything lives in the allocation's network namespace,
 * which Nomad (or another driver) made and whose path it gives. Per NET_BASIC device: a tap there with a
 * point-to-point /30 from 169.254.0.0/16 (gateway on the tap, the unikernel's address the other one), and
 * in that namespace's own iptables, tagged {@code mirage:<task id>}: DNAT of this task's group ports from the
 * allocation's interface and from 127.0.0.1 to the unikernel, DNAT of the unikernel's connections to its
 * gateway to 127.0.0.1 (upstream listeners), SNAT of localhost connections onto the link, MASQUERADE of its
 * egress, and a drop of anything the tap sends from another address. Nothing is made in the host's namespace,
 * and no lease is needed: the addresses are private to the allocation.
 */
public final class GroupNetwork {
    private static final Pattern DEFAULT_ROUTE_DEV = Pattern.compile("^default .*?\\bdev (\\S+)", Pattern.MULTILINE);
    private static final Pattern INET = Pattern.compile("\\binet (\\d{1,3}(?:\\.\\d{1,3}){3})/(\\d{1,2})");
    private static final Path MOUNTS = Path.of("/proc/self/mountinfo");
    private static final Pattern OCTAL = Pattern.compile("\\\\([0-7]{3})");
    private static final Pattern LINK_LINE = Pattern.compile("^\\d+:\\s+([^:@\\s]+)[:@]");
    private static final String LINK_LOCAL = "169.254.";
    /** Nomad names the port it adds for a Connect sidecar's public listener {@code connect-proxy-<service>}. */
    static final String CONNECT_PROXY_PREFIX = "connect-proxy-";
    /** ... and those of checks it exposes through the sidecar {@code svc_<service>_ck_<6 hex>}. */
    private static final Pattern EXPOSED_CHECK = Pattern.compile("svc_.+_ck_[0-9a-f]{6}");
    /** Serialise changes per namespace; a fixed set, so that allocations come and go without a map growing. */
    private static final Object[] NAMESPACE_LOCKS = java.util.stream.Stream.generate(Object::new).limit(64)
            .toArray();

    private final CommandRunner runner;
    private final Path batchDir;
    private final String macOui;
    private final int mtu;
    private final Logger log;

    public GroupNetwork(CommandRunner runner, Path batchDir, String macOui, int mtu, Logger log) {
        this.runner = runner;
        this.batchDir = batchDir;
        this.macOui = macOui;
        this.mtu = mtu;
        this.log = log;
    }

    /**
     * Creates the task's taps, addresses and rules in the namespace at {@code netns}; on failure removes what it
     * made. A task started again in the same allocation first loses what an earlier run of it left there.
     */
    public Attachment attach(Path netns, String taskId, OptionalInt uid, OptionalInt gid, List<DeviceRequest> devices)
            throws NetworkSetupException {
        checkNamespace(netns);
        for (DeviceRequest device : devices) {
            if (device.staticIp().isPresent()) {
                throw new InvalidNetworkRequestException(device.device(), "address", device.staticIp().get(),
                        "a static address is not available in group (bridge) networking mode: the unikernel gets a "
                                + "link-local address private to its allocation");
            }
        }
        Map<String, Optional<String>> macs = new java.util.LinkedHashMap<>();
        for (DeviceRequest device : devices) {
            macs.put(device.device(), device.mac().isPresent()
                    ? Optional.of(MacAddresses.parse(device.device(), device.mac().get())) : Optional.empty());
        }
        CommandRunner inside = new InNamespace(runner, netns);
        HostCommands commands = new HostCommands(inside);
        synchronized (lockOf(netns)) {
            // Every program run costs a start ~3-4 ms here: one listing and one batch of changes for ip.
            Listing listing = list(commands);
            List<String> ourTaps = devices.stream().map(d -> TapNames.forDevice(taskId, d.device())).toList();
            List<String> leftoverTaps = ourTaps.stream().filter(listing.links()::contains).toList();
            if (!leftoverTaps.isEmpty()) {
                // An earlier start of this task (cut short by a plugin crash) left these, and maybe its rules.
                removeLeftovers(inside, taskId, leftoverTaps);
                listing = list(commands);
            }
            String uplink = listing.uplink().orElseThrow(() -> new NetworkSetupException("the allocation's network "
                    + "namespace " + netns + " has no IPv4 default route (group network mode \"none\"?): a networked "
                    + "unikernel needs the allocation's interface"));
            try (Rollback rollback = new Rollback(log, taskId, "the allocation's namespace goes with the allocation")) {
                List<DeviceAttachment> attached = new ArrayList<>();
                Set<Integer> taken = new HashSet<>(listing.linkLocalBlocks());
                RuleBatch rules = new RuleBatch();
                List<String> ipBatch = new ArrayList<>();
                List<String> sysctls = new ArrayList<>(List.of("sysctl", "-q", "-w", "net.ipv4.ip_forward=1"));
                String tag = " -m comment --comment \"" + IptablesRules.comment(taskId) + "\"";
                List<String> taps = new ArrayList<>();
                rollback.add(() -> removeLeftovers(inside, taskId, taps));
                for (DeviceRequest device : devices) {
                    int block = freeBlock(taken);
                    taken.add(block);
                    String network = nomadmirage.config.Ipv4Cidr.formatAddress(block);
                    String gateway = nomadmirage.config.Ipv4Cidr.formatAddress(block + 1);
                    String guest = nomadmirage.config.Ipv4Cidr.formatAddress(block + 2);
                    String tap = TapNames.forDevice(taskId, device.device());
                    taps.add(tap);
                    ipBatch.add("tuntap add dev " + tap + " mode tap" + (uid.isPresent() ? " user " + uid.getAsInt() : "")
                            + (gid.isPresent() ? " group " + gid.getAsInt() : ""));
                    ipBatch.add("link set dev " + tap + " mtu " + mtu + " up");
                    ipBatch.add("addr add " + gateway + "/30 dev " + tap);
                    sysctls.add("net.ipv4.conf." + tap + ".route_localnet=1");
                    for (PortForward forward : device.forwards()) {
                        if (isConnectOwn(forward.label())) {
                            continue; // a listener of the Connect sidecar itself, on every address of the namespace
                        }
                        for (String proto : MapForward.PROTOCOLS) {
                            String port = " -p " + proto + " -m " + proto + " --dport " + forward.guestPort();
                            String to = " -j DNAT --to-destination " + guest + ":" + forward.guestPort();
                            rules.add("nat", "-A PREROUTING -i " + uplink + port + tag + to);
                            rules.add("nat", "-A OUTPUT -d 127.0.0.1/32 -o lo" + port + tag + to);
                        }
                    }
                    for (String proto : MapForward.PROTOCOLS) {
                        rules.add("nat", "-A PREROUTING -d " + gateway + "/32 -i " + tap + " -p " + proto + tag
                                + " -j DNAT --to-destination 127.0.0.1");
                    }
                    rules.add("nat", "-A POSTROUTING -s 127.0.0.0/8 -o " + tap + tag + " -j SNAT --to-source " + gateway);
                    rules.add("nat", "-A POSTROUTING -s " + network + "/30 -o " + uplink + tag + " -j MASQUERADE");
                    rules.add("filter", "-A INPUT -i " + tap + " ! -s " + guest + "/32" + tag + " -j DROP");
                    rules.add("filter", "-A FORWARD -i " + tap + " ! -s " + guest + "/32" + tag + " -j DROP");
                    String mac = macs.get(device.device()).orElse(MacAddresses.derive(macOui, taskId, device.device()));
                    attached.add(new DeviceAttachment(device.device(), tap, mac, guest, 30, gateway, device.forwards()));
                }
                ipBatch(commands, ipBatch);
                HostCommands.whole(commands.attempt(sysctls.toArray(String[]::new)));
                new IptablesFirewall(inside, batchDir).apply(rules);
                rollback.commit();
                NetworkTeardown teardown = new NetworkTeardown(taskId, taps,
                        attached.stream().map(DeviceAttachment::ip).toList());
                log.info("task network attached in the allocation's namespace", "task_id", taskId, "netns",
                        netns.toString(), "tap", taps.toString(), "ip", teardown.ips().toString(), "uplink", uplink);
                return new Attachment(attached, teardown);
            }
        }
    }

    private static Object lockOf(Path netns) {
        return NAMESPACE_LOCKS[Math.floorMod(netns.hashCode(), NAMESPACE_LOCKS.length)];
    }

    /** Ports Nomad adds for a Connect sidecar's own listeners: never forwarded to the unikernel by default. */
    static boolean isConnectOwn(String label) {
        return label.startsWith(CONNECT_PROXY_PREFIX) || EXPOSED_CHECK.matcher(label).matches();
    }

    /** Removes the task's taps and rules from the namespace, if it still exists (it goes with its last process). */
    public void detach(Path netns, NetworkTeardown teardown) throws NetworkSetupException {
        if (!Files.exists(netns, LinkOption.NOFOLLOW_LINKS)) {
            log.debug("the allocation's namespace is gone, and the task's taps and rules with it", "task_id",
                    teardown.taskId(), "netns", netns.toString());
            return;
        }
        checkNamespace(netns);
        CommandRunner inside = new InNamespace(runner, netns);
        synchronized (lockOf(netns)) {
            removeLeftovers(inside, teardown.taskId(), teardown.taps());
        }
        log.info("task network detached from the allocation's namespace", "task_id", teardown.taskId(), "netns",
                netns.toString(), "tap", teardown.taps().toString());
    }

    private void removeLeftovers(CommandRunner inside, String taskId, List<String> taps) throws NetworkSetupException {
        HostCommands commands = new HostCommands(inside);
        for (String tap : taps) {
            CommandResult result = commands.attempt("ip", "link", "del", "dev", tap);
            if (!result.succeeded() && !result.stderr().contains("Cannot find device")
                    && !result.stderr().contains("does not exist")) {
                throw HostCommands.failure(result);
            }
        }
        String comment = IptablesRules.comment(taskId);
        List<SavedRule> ours = IptablesSave.allRules(HostCommands.whole(commands.attemptListing("iptables-save")))
                .stream().filter(rule -> rule.comment().map(comment::equals).orElse(false)).toList();
        new IptablesFirewall(inside, batchDir).apply(IptablesRules.removal(ours));
    }

    /** What a start needs to know of the namespace: its links, its default route's interface, used /30s. */
    private record Listing(Set<String> links, Optional<String> uplink, Set<Integer> linkLocalBlocks) {
    }

    /** One {@code ip -o -batch}: links, the default route, addresses. */
    private Listing list(HostCommands commands) throws NetworkSetupException {
        Path file = batchFile("ip-list-", List.of("link show", "route show default", "addr show"));
        String out;
        try {
            out = HostCommands.whole(commands.attempt("ip", "-o", "-batch", file.toString()));
        } finally {
            deleteQuietly(file);
        }
        Set<String> links = new HashSet<>();
        Set<Integer> blocks = new HashSet<>();
        Optional<String> uplink = Optional.empty();
        for (String line : out.split("\n")) {
            Matcher route = DEFAULT_ROUTE_DEV.matcher(line);
            if (uplink.isEmpty() && route.find()) {
                uplink = Optional.of(route.group(1));
                continue;
            }
            Matcher inet = INET.matcher(line);
            if (inet.find()) {
                if (inet.group(1).startsWith(LINK_LOCAL)) {
                    Integer address = nomadmirage.config.Ipv4Cidr.parseAddress(inet.group(1));
                    if (address != null) {
                        blocks.add(address & ~3);
                    }
                }
                continue;
            }
            Matcher link = LINK_LINE.matcher(line);
            if (link.find()) {
                links.add(link.group(1));
            }
        }
        return new Listing(links, uplink, blocks);
    }

    private void ipBatch(HostCommands commands, List<String> lines) throws NetworkSetupException {
        Path file = batchFile("ip-", lines);
        try {
            HostCommands.whole(commands.attempt("ip", "-batch", file.toString()));
        } finally {
            deleteQuietly(file);
        }
    }

    private Path batchFile(String prefix, List<String> lines) throws NetworkSetupException {
        try {
            Files.createDirectories(batchDir);
            Path file = Files.createTempFile(batchDir, prefix, ".batch");
            Files.writeString(file, String.join("\n", lines) + "\n");
            return file;
        } catch (java.io.IOException e) {
            throw new NetworkSetupException("cannot write an ip batch file in " + batchDir + ": " + e.getMessage(), e);
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (java.io.IOException ignored) {
            // A stray batch file in the state directory is harmless.
        }
    }

    /** The first /30 of 169.254.1.0 - 169.254.254.255 not in {@code taken}. */
    private static int freeBlock(Set<Integer> taken) throws NetworkSetupException {
        int first = nomadmirage.config.Ipv4Cidr.parseAddress("169.254.1.0");
        int last = nomadmirage.config.Ipv4Cidr.parseAddress("169.254.254.252");
        for (int block = first; block <= last; block += 4) {
            if (!taken.contains(block)) {
                return block;
            }
        }
        throw new NetworkSetupException("no free /30 left in 169.254.0.0/16 in the allocation's namespace");
    }

    /**
     * The path must name a namespace file (an nsfs mount, as Nomad's and Docker's are), not a link to one or
     * anything else. Read from this process's mount table: no program run for it.
     */
    private void checkNamespace(Path netns) throws NetworkSetupException {
        if (!netns.isAbsolute() || Files.isSymbolicLink(netns)) {
            throw new NetworkSetupException("the allocation's network namespace path " + netns
                    + " must be an absolute path to a namespace file, not a link");
        }
        String where;
        try {
            where = netns.toRealPath().toString();
        } catch (java.io.IOException e) {
            throw new NetworkSetupException("the allocation's network namespace " + netns + " is not there: "
                    + e.getMessage(), e);
        }
        try {
            for (String line : Files.readAllLines(MOUNTS)) {
                String[] halves = line.split(" - ", 2);
                String[] fields = halves[0].split(" ");
                if (halves.length == 2 && fields.length > 4 && unescape(fields[4]).equals(where)
                        && halves[1].startsWith("nsfs ")) {
                    return;
                }
            }
        } catch (java.io.IOException e) {
            throw new NetworkSetupException("cannot read " + MOUNTS + ": " + e.getMessage(), e);
        }
        throw new NetworkSetupException("the allocation's network namespace path " + netns
                + " is not a network namespace (no namespace file is mounted there)");
    }

    /** Mount points in /proc/self/mountinfo escape space, tab, newline and backslash as octal. */
    private static String unescape(String field) {
        Matcher m = OCTAL.matcher(field);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(String.valueOf((char) Integer.parseInt(m.group(1), 8))));
        }
        m.appendTail(out);
        return out.toString();
    }
}
