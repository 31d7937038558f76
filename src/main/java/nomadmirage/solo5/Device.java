package nomadmirage.solo5;

import java.util.Objects;

/**
 * A device the unikernel declares; the tender must be given one of this type
 * and name (e.g. {@code --net:service0=tap0}) or it refuses to start.
 */
public record Device(String name, DeviceType type) {
    public Device {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
    }
}
