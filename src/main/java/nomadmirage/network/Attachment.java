package nomadmirage.network;

import java.util.List;

/** The result of {@link NetworkManager#attach}: the devices to hand to the tender, and how to undo it all. */
public record Attachment(List<DeviceAttachment> devices, NetworkTeardown teardown) {
    public Attachment {
        devices = List.copyOf(devices);
    }
}
