package nomadmirage.network;

import nomadmirage.config.Ipv4Cidr;

/** Address arithmetic the pool needs on top of {@link Ipv4Cidr}. */
final class Ipv4 {
    private Ipv4() {
    }

    static int parse(String address) {
        Integer value = Ipv4Cidr.parseAddress(address);
        if (value == null) {
            throw new IllegalArgumentException("not an IPv4 address: " + address);
        }
        return value;
    }

    static boolean contains(Ipv4Cidr subnet, int address) {
        long offset = Integer.toUnsignedLong(address) - Integer.toUnsignedLong(subnet.network());
        return offset >= 0 && offset < subnet.size();
    }

    static int broadcast(Ipv4Cidr subnet) {
        return (int) (Integer.toUnsignedLong(subnet.network()) + subnet.size() - 1);
    }

    /** Whether a task may hold this address: inside the subnet and not network, gateway or broadcast. */
    static boolean isAssignable(Ipv4Cidr subnet, int address) {
        return contains(subnet, address) && address != subnet.network() && address != subnet.gateway()
                && address != broadcast(subnet);
    }
}
