package nomadmirage.tender;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Everything needed to start one unikernel: which tender, the kernel image,
 * the unikernel's own arguments, memory and the devices bound to host objects.
 */
public record LaunchPlan(
        TenderKind kind,
        Path tender,
        Path kernel,
        List<String> args,
        long memoryMb,
        List<NetAttachment> nets,
        List<BlockAttachment> blocks,
        Optional<QemuSettings> qemu) {

    public LaunchPlan {
        args = List.copyOf(args);
        nets = List.copyOf(nets);
        blocks = List.copyOf(blocks);
        if (kind == TenderKind.QEMU && qemu.isEmpty()) {
            throw new IllegalArgumentException("a qemu launch needs QemuSettings");
        }
    }
}
