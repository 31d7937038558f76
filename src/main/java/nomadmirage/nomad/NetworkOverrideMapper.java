package nomadmirage.nomad;

import java.util.Optional;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.PortForward;
import nomadmirage.proto.drivers.NetworkOverride;
import nomadmirage.driver.DriverState;

/**
 * The driver network Nomad registers services with (address_mode = "driver"):
 * the unikernel's address on its default device, and each forwarded port's
 * label mapped to the port inside the unikernel.
 */
final class NetworkOverrideMapper {
    private NetworkOverrideMapper() {
    }

    static Optional<NetworkOverride> of(DriverState state) {
        if (state.networks().isEmpty() || state.groupNamespace().isPresent()) {
            // In group mode the unikernel's address is private to its allocation: services use the host
            // address or address_mode = "alloc".
            return Optional.empty();
        }
        // The default device, as for the unikernel's --ipv4 argument: "service", else the first.
        DeviceAttachment primary = state.networks().stream().filter(d -> d.device().equals("service")).findFirst()
                .orElse(state.networks().getFirst());
        NetworkOverride.Builder out = NetworkOverride.newBuilder()
                .setAddr(primary.ip())
                .setAutoAdvertise(state.autoAdvertise());
        for (DeviceAttachment device : state.networks()) {
            for (PortForward forward : device.forwards()) {
                out.putPortMap(forward.label(), forward.guestPort());
            }
        }
        return Optional.of(out.build());
    }
}
