package nomadmirage.network;

import java.util.regex.Pattern;

/** A tap and the only MAC and IPv4 address its guest may send from. */
public record Pin(String tap, String mac, String ip) {
    private static final Pattern TAP = Pattern.compile("[A-Za-z0-9_.-]{1,15}");
    private static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    /** The values go into nft commands verbatim, so nothing but these shapes is accepted. */
    public Pin {
        if (!TAP.matcher(tap).matches() || !MAC.matcher(mac).matches() || !IPV4.matcher(ip).matches()) {
            throw new IllegalArgumentException("not a tap, lower-case MAC and IPv4 address: " + tap + " " + mac + " " + ip);
        }
    }

    static Pin of(Lease lease) {
        return new Pin(lease.tap(), lease.mac(), lease.ip());
    }

    @Override
    public String toString() {
        return tap + " " + mac + " " + ip;
    }
}
