package nomadmirage.tender;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class TenderCommandTest {
    @Test
    void hvtArgvFollowsTheTenderCli() {
        LaunchPlan plan = new LaunchPlan(TenderKind.SOLO5_HVT, Path.of("/usr/bin/solo5-hvt"), Path.of("/t/app.hvt"),
                List.of("--ipv4=10.0.0.2/24", "--hello world"), 32,
                List.of(new NetAttachment("service", "mg1a2b3c", "00:80:41:aa:bb:cc")),
                List.of(new BlockAttachment("storage", Path.of("/t/disk.img"), 4096, false),
                        new BlockAttachment("logs", Path.of("/t/logs.img"), 512, false)),
                Optional.empty());
        assertEquals(List.of("/usr/bin/solo5-hvt", "--mem=32",
                "--net:service=mg1a2b3c", "--net-mac:service=00:80:41:aa:bb:cc",
                "--block:storage=/t/disk.img", "--block-sector-size:storage=4096",
                "--block:logs=/t/logs.img",
                "--", "/t/app.hvt", "--ipv4=10.0.0.2/24", "--hello world"), TenderCommand.argv(plan));
    }

    @Test
    void sptHasTheSameShape() {
        LaunchPlan plan = new LaunchPlan(TenderKind.SOLO5_SPT, Path.of("/bin/solo5-spt"), Path.of("/k"), List.of(), 16,
                List.of(), List.of(), Optional.empty());
        assertEquals(List.of("/bin/solo5-spt", "--mem=16", "--", "/k"), TenderCommand.argv(plan));
    }

    @Test
    void qemuRunsAVirtioUnikernelWithSerialConsoleAndDebugExit() {
        LaunchPlan plan = new LaunchPlan(TenderKind.QEMU, Path.of("/usr/bin/qemu-system-x86_64"), Path.of("/t/app.virtio"),
                List.of("--a=1", "--b"), 24,
                List.of(new NetAttachment("service", "mgtap0", "00:80:41:00:00:01")),
                List.of(new BlockAttachment("storage", Path.of("/t/a,b.img"), 512, true)),
                Optional.of(new QemuSettings(false, Optional.of("q35"), List.of("-smp", "2"))));
        assertEquals(List.of("/usr/bin/qemu-system-x86_64",
                "-nodefaults", "-no-user-config", "-no-reboot", "-display", "none", "-serial", "stdio",
                "-machine", "q35,acpi=off", "-accel", "tcg", "-cpu", "Westmere", "-m", "24",
                "-device", "isa-debug-exit",
                "-netdev", "tap,id=net0,ifname=mgtap0,script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=net0,mac=00:80:41:00:00:01",
                "-drive", "id=blk0,if=none,format=raw,file=/t/a,,b.img,readonly=on",
                "-device", "virtio-blk-pci,drive=blk0,logical_block_size=512,physical_block_size=512",
                "-smp", "2",
                "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
                "-kernel", "/t/app.virtio", "-append", "--a=1 --b"), TenderCommand.argv(plan));
    }

    @Test
    void qemuRunsUnderItsSeccompSandboxAfterTheJobsOptions() {
        LaunchPlan plan = new LaunchPlan(TenderKind.QEMU, Path.of("/q"), Path.of("/k"), List.of(), 64, List.of(),
                List.of(), Optional.of(new QemuSettings(false, Optional.empty(), List.of("-smp", "2"))));
        List<String> argv = TenderCommand.argv(plan);
        int sandbox = argv.indexOf("-sandbox");
        assertTrue(sandbox > 0, argv.toString());
        assertEquals("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny", argv.get(sandbox + 1));
        assertEquals(1, java.util.Collections.frequency(argv, "-sandbox"), argv.toString());
        assertTrue(sandbox > argv.indexOf("-smp"), "the job's options come first, so the sandbox is not overridden: " + argv);
    }

    @Test
    void qemuWithKvmUsesTheHostCpuAndNoAppendWithoutArgs() {
        LaunchPlan plan = new LaunchPlan(TenderKind.QEMU, Path.of("/q"), Path.of("/k"), List.of(), 64, List.of(),
                List.of(), Optional.of(new QemuSettings(true, Optional.empty(), List.of())));
        List<String> argv = TenderCommand.argv(plan);
        assertEquals(List.of("-machine", "acpi=off", "-accel", "kvm", "-cpu", "host"), argv.subList(8, 14));
        assertEquals(List.of("-kernel", "/k"), argv.subList(argv.size() - 2, argv.size()));
    }

    @Test
    void aQemuPlanNeedsQemuSettings() {
        assertThrows(IllegalArgumentException.class, () -> new LaunchPlan(TenderKind.QEMU, Path.of("/q"), Path.of("/k"),
                List.of(), 64, List.of(), List.of(), Optional.empty()));
    }

    @Test
    void tenderFollowsTheAbiTarget() {
        assertEquals(Optional.of(TenderKind.SOLO5_HVT), TenderKind.forTarget(nomadmirage.solo5.AbiTarget.HVT));
        assertEquals(Optional.of(TenderKind.QEMU), TenderKind.forTarget(nomadmirage.solo5.AbiTarget.VIRTIO));
        assertEquals(Optional.empty(), TenderKind.forTarget(nomadmirage.solo5.AbiTarget.MUEN));
    }
}
