package nomadmirage.config;

/** An IPv4 network in CIDR form, e.g. 10.99.0.0/16 (host bits must be zero). */
public record Ipv4Cidr(int network, int prefixLength) {
    public Ipv4Cidr {
        if (prefixLength < 0 || prefixLength > 32) {
            throw new IllegalArgumentException("prefix length out of range: " + prefixLength);
        }
        if ((network & ~mask(prefixLength)) != 0) {
            throw new IllegalArgumentException("host bits set in network address");
        }
    }

    static int mask(int prefixLength) {
        return prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
    }

    /** Parses "a.b.c.d/n"; null when the text is not a valid network. */
    public static Ipv4Cidr parse(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            return null;
        }
        Integer address = parseAddress(text.substring(0, slash));
        int prefix;
        try {
            prefix = Integer.parseInt(text.substring(slash + 1));
        } catch (NumberFormatException e) {
            return null;
        }
        if (address == null || prefix < 0 || prefix > 32 || (address & ~mask(prefix)) != 0) {
            return null;
        }
        return new Ipv4Cidr(address, prefix);
    }

    /** A dotted quad of ASCII decimal octets (at most three digits each), or null. */
    public static Integer parseAddress(String text) {
        // By hand: a pool check parses every lease's address, and split plus streams cost a microsecond each.
        int value = 0;
        int octets = 0;
        int i = 0;
        int length = text.length();
        while (octets < 4) {
            int start = i;
            int octet = 0;
            while (i < length && i - start < 4) {
                char c = text.charAt(i);
                if (c < '0' || c > '9') {
                    break;
                }
                octet = octet * 10 + (c - '0');
                i++;
            }
            if (i == start || i - start > 3 || octet > 255) {
                return null;
            }
            value = value << 8 | octet;
            octets++;
            if (octets < 4) {
                if (i >= length || text.charAt(i) != '.') {
                    return null;
                }
                i++;
            }
        }
        return i == length ? value : null;
    }

    public static String formatAddress(int address) {
        return (address >>> 24) + "." + (address >>> 16 & 0xff) + "." + (address >>> 8 & 0xff) + "." + (address & 0xff);
    }

    /** The first usable address, which the bridge takes as the tasks' gateway. */
    public int gateway() {
        return network + 1;
    }

    public long size() {
        return 1L << (32 - prefixLength);
    }

    @Override
    public String toString() {
        return formatAddress(network) + "/" + prefixLength;
    }
}
