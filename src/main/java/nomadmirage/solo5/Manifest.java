package nomadmirage.solo5;

import java.util.List;

/**
 * A unikernel's application manifest (struct mft, include/mft_abi.h), without
 * the reserved first entry, in declaration order.
 */
public record Manifest(int version, List<Device> devices) {
    public Manifest {
        devices = List.copyOf(devices);
    }
}
