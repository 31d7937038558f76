package nomadmirage.network;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import nomadmirage.config.Ipv4Cidr;

/** Pins in memory; {@link #failPin} and {@link #failUnpin} make the next such change fail, changing nothing. */
final class FakeGuestFilter implements GuestFilter {
    final Set<Pin> pins = new LinkedHashSet<>();
    final List<String> ensured = new ArrayList<>();
    boolean failPin;
    boolean failUnpin;

    @Override
    public synchronized void ensure(Ipv4Cidr subnet, boolean isolateTasks) {
        ensured.add(subnet + (isolateTasks ? " isolated" : ""));
    }

    @Override
    public synchronized void pin(List<Pin> add) throws NetworkSetupException {
        if (failPin && !add.isEmpty()) {
            throw new NetworkSetupException("network command failed: nft add element: exited 1: no table");
        }
        pins.addAll(add);
    }

    @Override
    public synchronized void unpin(List<Pin> remove) throws NetworkSetupException {
        if (failUnpin && !remove.isEmpty()) {
            throw new NetworkSetupException("network command failed: nft delete element: exited 1: busy");
        }
        remove.forEach(pins::remove);
    }

    @Override
    public synchronized List<Pin> pins() {
        return List.copyOf(pins);
    }

    synchronized Set<String> pinnedTaps() {
        Set<String> taps = new LinkedHashSet<>();
        pins.forEach(p -> taps.add(p.tap()));
        return taps;
    }
}
