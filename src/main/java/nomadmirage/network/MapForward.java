package nomadmirage.network;

import java.util.List;

/**
 * One port forward as an element of the {@code ip nomad_mirage} maps: {@code fwd_local} (every local
 * address; key protocol . port) or {@code fwd_addr} (one host address; key address . protocol . port),
 * both mapping to guest address . port. Which task it belongs to is told by the guest address (its lease).
 */
public record MapForward(String hostIp, String protocol, int hostPort, String guestIp, int guestPort) {
    public static final List<String> PROTOCOLS = List.of("tcp", "udp");

    public MapForward {
        hostIp = hostIp == null || hostIp.isEmpty() ? "0.0.0.0" : hostIp;
        if (!PROTOCOLS.contains(protocol)) {
            throw new IllegalArgumentException("not a forwarded protocol: " + protocol);
        }
    }

    /** The map elements of one device's forwards: each port for TCP and UDP. */
    public static List<MapForward> of(DeviceAttachment device) {
        return device.forwards().stream()
                .flatMap(f -> PROTOCOLS.stream().map(p -> new MapForward(f.hostIp(), p, f.hostPort(), device.ip(),
                        f.guestPort())))
                .toList();
    }

    public boolean anyAddress() {
        return hostIp.equals("0.0.0.0");
    }

    public String map() {
        return anyAddress() ? "fwd_local" : "fwd_addr";
    }

    /** The element as nft writes it, e.g. {@code tcp . 8080 : 10.99.0.2 . 80}. */
    public String element() {
        return (anyAddress() ? "" : hostIp + " . ") + protocol + " . " + hostPort + " : " + guestIp + " . " + guestPort;
    }

    /** The key alone, as {@code nft delete element} takes it. */
    public String key() {
        return (anyAddress() ? "" : hostIp + " . ") + protocol + " . " + hostPort;
    }
}
