package nomadmirage.network;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Objects;
import nomadmirage.config.Ipv4Cidr;

/** A host port (on {@code hostIp}, or every local address when empty) forwarded to a guest port, TCP and UDP. */
public record PortForward(
        @JsonProperty("label") String label,
        @JsonProperty("host_port") int hostPort,
        @JsonProperty("guest_port") int guestPort,
        @JsonProperty("host_ip") String hostIp) {

    public PortForward {
        Objects.requireNonNull(label, "label");
        hostIp = hostIp == null ? "" : hostIp;
        if (hostPort < 1 || hostPort > 65535) {
            throw new IllegalArgumentException("port " + label + ": host port out of range 1-65535: " + hostPort);
        }
        if (guestPort < 1 || guestPort > 65535) {
            throw new IllegalArgumentException("port " + label + ": guest port out of range 1-65535: " + guestPort);
        }
        if (!hostIp.isEmpty() && Ipv4Cidr.parseAddress(hostIp) == null) {
            throw new IllegalArgumentException("port " + label + ": host address is not IPv4: " + hostIp);
        }
    }

    public static PortForward anyAddress(String label, int hostPort, int guestPort) {
        return new PortForward(label, hostPort, guestPort, "");
    }
}
