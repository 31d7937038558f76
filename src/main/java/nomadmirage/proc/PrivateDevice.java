package nomadmirage.proc;

import java.nio.file.Path;

/**
 * A device a tender opens by path that it gets as a node of its own (owned by its user, mode 0600,
 * in a mount namespace of its own), so the host's node needs no mode or group for task users.
 */
public enum PrivateDevice {
    /** A tender opens its tap by name through it (TUNSETIFF); the tap must be owned by the tender's user. */
    TUN(Path.of("/dev/net/tun")),
    /** solo5-hvt, and qemu with KVM acceleration. */
    KVM(Path.of("/dev/kvm"));

    private final Path path;

    PrivateDevice(Path path) {
        this.path = path;
    }

    public Path path() {
        return path;
    }
}
