package nomadmirage.network;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/** What a task wants for one NET_BASIC device: empty optionals mean a derived MAC and a pool address. */
public record DeviceRequest(String device, Optional<String> mac, Optional<String> staticIp, List<PortForward> forwards) {
    public DeviceRequest {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(mac, "mac");
        Objects.requireNonNull(staticIp, "staticIp");
        forwards = List.copyOf(forwards);
    }

    public static DeviceRequest pooled(String device, List<PortForward> forwards) {
        return new DeviceRequest(device, Optional.empty(), Optional.empty(), forwards);
    }
}
