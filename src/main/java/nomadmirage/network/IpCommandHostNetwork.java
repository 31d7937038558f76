package nomadmirage.network;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/** {@link HostNetwork} over iproute2's {@code ip} and procps' {@code sysctl}. */
public final class IpCommandHostNetwork implements HostNetwork {
    private static final Pattern LINK_NAME = Pattern.compile("^\\d+:\\s+([^:@\\s]+)[@:]");
    private static final Pattern INET = Pattern.compile("\\sinet\\s+(\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+)");
    private static final Pattern ETHER = Pattern.compile("\\slink/ether\\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\\s");

    private final HostCommands commands;

    public IpCommandHostNetwork(CommandRunner runner) {
        this.commands = new HostCommands(runner);
    }

    @Override
    public void ensureBridge(String bridge, Ipv4Cidr subnet, int mtu) throws NetworkSetupException {
        CommandResult shown = commands.attempt("ip", "link", "show", "dev", bridge);
        if (!shown.succeeded()) {
            CommandResult add = commands.attempt("ip", "link", "add", "name", bridge, "type", "bridge");
            if (!add.succeeded() && !add.stderr().contains("File exists")) {
                throw HostCommands.failure(add);
            }
            shown = commands.attempt("ip", "link", "show", "dev", bridge);
        }
        Matcher ether = ETHER.matcher(shown.stdout());
        String wanted = Ipv4Cidr.formatAddress(subnet.gateway()) + "/" + subnet.prefixLength();
        boolean present = false;
        for (String address : addresses(bridge)) {
            if (address.equals(wanted)) {
                present = true;
            } else {
                // Left from an earlier subnet setting: its route would shadow or confuse the new one.
                commands.require("ip", "addr", "del", address, "dev", bridge);
            }
        }
        if (!present) {
            commands.require("ip", "addr", "add", wanted, "dev", bridge);
        }
        // Multicast snooping off: with it, every port that comes up makes the kernel walk the multicast state
        // of every port (br_port_state_selection), a start's tap 0.3 ms slower at 500 tasks; unknown multicast
        // is flooded to all ports either way.
        // Its own address set, to the one it has: a bridge whose address was never set takes the lowest of its
        // ports' (the taps' random ones), so the gateway's MAC the guests had learnt changed as tasks came and went
        // (and was gone with the tap it came from), and every tap added or removed made the kernel walk all ports.
        List<String> set = new ArrayList<>(List.of("ip", "link", "set", "dev", bridge));
        if (ether.find() && !ether.group(1).equals("00:00:00:00:00:00")) {
            set.addAll(List.of("address", ether.group(1)));
        }
        set.addAll(List.of("mtu", Integer.toString(mtu), "up", "type", "bridge", "mcast_snooping", "0"));
        commands.require(set.toArray(String[]::new));
    }

    private List<String> addresses(String bridge) throws NetworkSetupException {
        String out = commands.require("ip", "-o", "-4", "addr", "show", "dev", bridge);
        List<String> addresses = new ArrayList<>();
        Matcher m = INET.matcher(out);
        while (m.find()) {
            addresses.add(m.group(1));
        }
        return addresses;
    }

    @Override
    public void setSysctl(String key, String value) throws NetworkSetupException {
        commands.require("sysctl", "-q", "-w", key + "=" + value);
    }

    @Override
    public void createTap(String tap, String bridge, int mtu, OptionalInt uid, OptionalInt gid)
            throws NetworkSetupException {
        List<String> add = new ArrayList<>(List.of("ip", "tuntap", "add", "dev", tap, "mode", "tap"));
        uid.ifPresent(u -> add.addAll(List.of("user", Integer.toString(u))));
        gid.ifPresent(g -> add.addAll(List.of("group", Integer.toString(g))));
        CommandResult created = commands.attempt(add.toArray(String[]::new));
        if (!created.succeeded()) {
            String hint = created.stderr().contains("busy") ? " (a link named " + tap + " already exists)" : "";
            throw new NetworkSetupException("network command failed: " + created.summary() + hint);
        }
        try {
            commands.require("ip", "link", "set", "dev", tap, "mtu", Integer.toString(mtu), "master", bridge, "up");
            // With br_netfilter loaded, a guest's connection to its own forwarded port is DNATed in the
            // bridge and must leave through the port it came in on.
            commands.require("ip", "link", "set", "dev", tap, "type", "bridge_slave", "hairpin", "on");
        } catch (NetworkSetupException e) {
            try {
                deleteTap(tap);
            } catch (NetworkSetupException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    @Override
    public boolean deleteTap(String tap) throws NetworkSetupException {
        CommandResult result = commands.attempt("ip", "link", "del", "dev", tap);
        if (result.succeeded()) {
            return true;
        }
        if (result.stderr().contains("Cannot find device") || result.stderr().contains("does not exist")) {
            return false;
        }
        throw HostCommands.failure(result);
    }

    @Override
    public boolean bridgeExists(String bridge) throws NetworkSetupException {
        CommandResult result = commands.attempt("ip", "link", "show", "dev", bridge);
        if (result.succeeded()) {
            return true;
        }
        if (result.stderr().contains("does not exist")) {
            return false;
        }
        throw HostCommands.failure(result);
    }

    @Override
    public List<String> taps() throws NetworkSetupException {
        return linkNames(commands.list("ip", "-o", "link", "show", "type", "tun")).stream()
                .filter(TapNames::isOurs).toList();
    }

    static List<String> linkNames(String ipOneLineOutput) {
        List<String> names = new ArrayList<>();
        for (String line : ipOneLineOutput.split("\n")) {
            Matcher m = LINK_NAME.matcher(line);
            if (m.find()) {
                names.add(m.group(1));
            }
        }
        return names;
    }
}
