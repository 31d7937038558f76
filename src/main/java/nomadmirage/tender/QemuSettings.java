package nomadmirage.tender;

import java.util.List;
import java.util.Optional;

/** How qemu runs a virtio unikernel: accelerator, machine and allowed extra options. */
public record QemuSettings(boolean kvm, Optional<String> machine, List<String> extraArgs) {
    public QemuSettings {
        extraArgs = List.copyOf(extraArgs);
    }
}
