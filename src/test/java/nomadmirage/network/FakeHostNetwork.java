package nomadmirage.network;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;
import nomadmirage.config.Ipv4Cidr;

/** Taps in memory; {@link #failOnTap} makes creating that tap fail like ip would. */
final class FakeHostNetwork implements HostNetwork {
    final Map<String, OptionalInt> taps = new TreeMap<>();
    final List<String> sysctls = new ArrayList<>();
    String failOnTap = "";
    int bridgeCalls;
    int tapsCreated;

    @Override
    public void ensureBridge(String bridge, Ipv4Cidr subnet, int mtu) {
        bridgeCalls++;
    }

    @Override
    public void setSysctl(String key, String value) {
        sysctls.add(key + "=" + value);
    }

    @Override
    public synchronized void createTap(String tap, String bridge, int mtu, OptionalInt uid, OptionalInt gid)
            throws NetworkSetupException {
        if (tap.equals(failOnTap) || taps.containsKey(tap)) {
            throw new NetworkSetupException("network command failed: ip tuntap add dev " + tap + ": exited 1: busy");
        }
        taps.put(tap, uid);
        tapsCreated++;
    }

    @Override
    public synchronized boolean deleteTap(String tap) {
        return taps.remove(tap) != null;
    }

    /** The bridge exists once the host was set up. */
    @Override
    public boolean bridgeExists(String bridge) {
        return bridgeCalls > 0;
    }

    @Override
    public synchronized List<String> taps() {
        return taps.keySet().stream().filter(TapNames::isOurs).toList();
    }
}
