package nomadmirage.tender;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** How qemu runs a virtio unikernel: accelerator, machine, QMP socket and allowed extra options. */
public record QemuSettings(boolean kvm, Optional<String> machine, Path qmpSocket, List<String> extraArgs) {
    public QemuSettings {
        extraArgs = List.copyOf(extraArgs);
    }
}
