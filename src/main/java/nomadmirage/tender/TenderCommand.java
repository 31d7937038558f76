package nomadmirage.tender;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds the exact argv of a tender. Arguments are passed as argv, never
 * through a shell. (Command lines: Solo5 tenders/hvt/hvt_main.c and
 * tenders/spt/spt_main.c; virtio: scripts/virtio-run/solo5-virtio-run.sh.)
 */
public final class TenderCommand {
    /**
     * qemu's isa-debug-exit device at its default port 0x501, where Solo5's virtio
     * binding writes 41 on exit, so qemu exits with (41 << 1) | 1 = 83.
     */
    public static final String DEBUG_EXIT_DEVICE = "isa-debug-exit";
    public static final int QEMU_GUEST_EXIT_STATUS = 83;
    /**
     * qemu's seccomp filter: no obsolete system calls, no setuid/setgid and the like, no fork or
     * exec, no scheduler or resource-limit changes. A unikernel needs none of them.
     */
    public static final String QEMU_SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

    private TenderCommand() {
    }

    public static List<String> argv(LaunchPlan plan) {
        return switch (plan.kind()) {
            case SOLO5_HVT, SOLO5_SPT -> solo5(plan);
            case QEMU -> qemu(plan);
        };
    }

    private static List<String> solo5(LaunchPlan plan) {
        List<String> argv = new ArrayList<>();
        argv.add(plan.tender().toString());
        argv.add("--mem=" + plan.memoryMb());
        for (NetAttachment net : plan.nets()) {
            argv.add("--net:" + net.device() + "=" + net.tap());
            argv.add("--net-mac:" + net.device() + "=" + net.mac());
        }
        for (BlockAttachment block : plan.blocks()) {
            argv.add("--block:" + block.device() + "=" + block.file());
            if (block.sectorSize() != 512) {
                argv.add("--block-sector-size:" + block.device() + "=" + block.sectorSize());
            }
        }
        argv.add("--");
        argv.add(plan.kernel().toString());
        argv.addAll(plan.args());
        return argv;
    }

    private static List<String> qemu(LaunchPlan plan) {
        QemuSettings qemu = plan.qemu().orElseThrow();
        List<String> argv = new ArrayList<>();
        argv.add(plan.tender().toString());
        // -no-reboot: a guest that faults resets, and the reset must end qemu instead of looping.
        argv.addAll(List.of("-nodefaults", "-no-user-config", "-no-reboot", "-display", "none", "-serial", "stdio"));
        argv.addAll(List.of("-machine", qemu.machine().map(m -> m + ",").orElse("") + "acpi=off"));
        if (qemu.kvm()) {
            argv.addAll(List.of("-accel", "kvm", "-cpu", "host"));
        } else {
            argv.addAll(List.of("-accel", "tcg", "-cpu", "Westmere"));
        }
        argv.addAll(List.of("-m", Long.toString(plan.memoryMb())));
        argv.addAll(List.of("-device", DEBUG_EXIT_DEVICE));
        int index = 0;
        for (NetAttachment net : plan.nets()) {
            String id = "net" + index++;
            argv.addAll(List.of("-netdev", "tap,id=" + id + ",ifname=" + net.tap() + ",script=no,downscript=no"));
            argv.addAll(List.of("-device", "virtio-net-pci,netdev=" + id + ",mac=" + net.mac()));
        }
        index = 0;
        for (BlockAttachment block : plan.blocks()) {
            String id = "blk" + index++;
            argv.addAll(List.of("-drive", "id=" + id + ",if=none,format=raw,file=" + escapeOption(block.file().toString())
                    + (block.readOnly() ? ",readonly=on" : "")));
            argv.addAll(List.of("-device", "virtio-blk-pci,drive=" + id
                    + ",logical_block_size=" + block.sectorSize() + ",physical_block_size=" + block.sectorSize()));
        }
        argv.addAll(qemu.extraArgs());
        // After the job's options, so no option of theirs comes later (and qemu_allowed_args refuses -sandbox).
        argv.addAll(List.of("-sandbox", QEMU_SANDBOX));
        argv.addAll(List.of("-kernel", plan.kernel().toString()));
        if (!plan.args().isEmpty()) {
            argv.addAll(List.of("-append", String.join(" ", plan.args())));
        }
        return argv;
    }

    /** qemu's option syntax doubles commas inside a value. */
    static String escapeOption(String value) {
        return value.replace(",", ",,");
    }
}
