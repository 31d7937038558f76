package nomadmirage.driver;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import nomadmirage.proc.PrivateDevice;
import java.util.Optional;
import nomadmirage.network.Attachment;
import nomadmirage.network.DeviceRequest;
import nomadmirage.solo5.Unikernel;
import nomadmirage.tender.BlockAttachment;
import nomadmirage.tender.LaunchPlan;
import nomadmirage.tender.NetAttachment;
import nomadmirage.tender.QemuSettings;
import nomadmirage.tender.TenderKind;

/**
 * Everything a start needs, decided before anything exists on the host: the unikernel and its
 * tender, memory, block devices (and which files to create), qemu settings, and the network
 * devices to request. {@link #bind} turns it into the launch once the network is attached.
 */
public record StartPlan(
        Unikernel unikernel,
        TenderKind kind,
        Path tender,
        Path kernel,
        long memoryMb,
        List<BlockAttachment> blocks,
        List<NewBlockFile> filesToCreate,
        List<ExistingBlockFile> filesToCheck,
        Optional<QemuSettings> qemu,
        Optional<NetworkBinding> network,
        List<DeviceRequest> netRequests,
        List<String> args) {

    /** A block file that does not exist yet and is created (sparse) just before launch; {@code field} names it in the job. */
    public record NewBlockFile(String field, ConfinedPath file, long sizeBytes) {
    }

    /** A block file that exists: checked again (a regular file, reached without links) just before launch. */
    public record ExistingBlockFile(String field, ConfinedPath file, long sectorSize) {
    }

    public StartPlan {
        blocks = List.copyOf(blocks);
        filesToCreate = List.copyOf(filesToCreate);
        filesToCheck = List.copyOf(filesToCheck);
        netRequests = List.copyOf(netRequests);
        args = List.copyOf(args);
    }

    public boolean wantsNetwork() {
        return !netRequests.isEmpty();
    }

    /** Whether the tender needs /dev/kvm (hvt always; qemu when it accelerates with KVM). */
    public boolean wantsKvm() {
        return kind == TenderKind.SOLO5_HVT || qemu.map(QemuSettings::kvm).orElse(false);
    }

    /** The devices the tender opens by path, which a tender running as a task user gets as nodes of its own. */
    public Set<PrivateDevice> devicesOpenedByPath() {
        Set<PrivateDevice> devices = EnumSet.noneOf(PrivateDevice.class);
        if (wantsNetwork()) {
            devices.add(PrivateDevice.TUN);
        }
        if (wantsKvm()) {
            devices.add(PrivateDevice.KVM);
        }
        return devices;
    }

    /** The launch, with the network devices bound to what was attached (nothing when no device asked for one). */
    public LaunchPlan bind(Optional<Attachment> attachment) {
        List<NetAttachment> nets = attachment.map(a -> a.devices().stream()
                .map(d -> new NetAttachment(d.device(), d.tap(), d.mac())).toList()).orElse(List.of());
        List<String> guestArgs = network.isPresent() && attachment.isPresent()
                ? network.get().guestArgs(attachment.get().devices(), args) : args;
        return new LaunchPlan(kind, tender, kernel, guestArgs, memoryMb, nets, blocks, qemu);
    }
}
