package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.TaskConfig;
import nomadmirage.config.TaskConfig.Accelerator;
import nomadmirage.config.TaskConfig.BlockDeviceConfig;
import nomadmirage.config.TaskConfig.QemuOptions;
import nomadmirage.solo5.AbiTarget;
import nomadmirage.solo5.DeviceType;
import nomadmirage.solo5.TestUnikernels;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LaunchPlannerTest {
    @TempDir
    Path tmp;
    Path allocDir;
    Path taskDir;
    boolean kvm = true;

    private final HostInspector host = new HostInspector() {
        @Override
        public Optional<Path> findExecutable(String nameOrPath) {
            return nameOrPath.contains("missing") ? Optional.empty() : Optional.of(Path.of("/opt/bin/" + nameOrPath));
        }

        @Override
        public boolean canOpenReadWrite(Path path) {
            return kvm;
        }

        @Override
        public Optional<String> interfaceState(String name) {
            return Optional.empty();
        }

        @Override
        public Optional<String> prepareWritableDirectory(Path dir) {
            return Optional.empty();
        }
    };

    @BeforeEach
    void layout() throws Exception {
        allocDir = tmp.resolve("alloc-1");
        taskDir = allocDir.resolve("web");
        Files.createDirectories(taskDir.resolve("local"));
        Files.createDirectories(allocDir.resolve("alloc/data"));
    }

    private Path image(String relative, AbiTarget target, Map<String, DeviceType> devices) throws Exception {
        Path file = taskDir.resolve(relative);
        Files.createDirectories(file.getParent());
        Files.write(file, TestUnikernels.image(target, target == AbiTarget.VIRTIO ? 1 : 2, devices));
        return file;
    }

    private TaskRequest request(long memoryMb) {
        return new TaskRequest(new TaskId("alloc-1/web/0001"), "web", "alloc-1", "job", "group", "default", allocDir,
                null, null, "", memoryMb, 0, 100, List.of());
    }

    private static TaskConfig config(String unikernel, List<BlockDeviceConfig> blocks, Optional<String> tender,
            QemuOptions qemu, List<String> args) {
        return new TaskConfig(unikernel, args, tender, blocks, qemu);
    }

    private static TaskConfig config(String unikernel) {
        return config(unikernel, List.of(), Optional.empty(), QemuOptions.defaults(), List.of());
    }

    private StartPlan plan(TaskConfig config, PluginConfig plugin) throws Exception {
        return new LaunchPlanner(host).plan(request(48), config, plugin);
    }

    private String failure(TaskConfig config, PluginConfig plugin) {
        return assertThrows(InvalidTaskException.class, () -> plan(config, plugin)).getMessage();
    }

    @Test
    void anHvtImageInTheTaskDirectoryRunsUnderSolo5Hvt() throws Exception {
        Path image = image("local/app.hvt", AbiTarget.HVT, Map.of());
        var planned = plan(config("local/app.hvt"), PluginConfig.defaults());
        assertEquals(TenderKind.SOLO5_HVT, planned.kind());
        assertEquals(Path.of("/opt/bin/solo5-hvt"), planned.tender());
        assertEquals(image.toRealPath(), planned.kernel());
        assertEquals(48, planned.memoryMb());
    }

    @Test
    void memoryDefaultsWhenNomadSendsNone() throws Exception {
        image("local/app.spt", AbiTarget.SPT, Map.of());
        var planned = new LaunchPlanner(host).plan(request(0), config("local/app.spt"), PluginConfig.defaults());
        assertEquals(LaunchPlanner.DEFAULT_MEMORY_MB, planned.memoryMb());
    }

    @Test
    void virtioRunsUnderQemuWithTcgUnlessTheOperatorAllowsKvm() throws Exception {
        image("local/app.virtio", AbiTarget.VIRTIO, Map.of());
        var tcg = plan(config("local/app.virtio"), PluginConfig.defaults());
        assertEquals(TenderKind.QEMU, tcg.kind());
        assertEquals(false, tcg.qemu().orElseThrow().kvm());

        PluginConfig auto = withAutoKvm(PluginConfig.defaults());
        assertEquals(true, plan(config("local/app.virtio"), auto).qemu().orElseThrow().kvm());
        kvm = false;
        assertEquals(false, plan(config("local/app.virtio"), auto).qemu().orElseThrow().kvm());
        String forced = failure(config("local/app.virtio", List.of(), Optional.empty(),
                new QemuOptions(Accelerator.KVM, Optional.empty(), List.of()), List.of()), auto);
        assertTrue(forced.startsWith("qemu.accelerator"), forced);
    }

    @Test
    void aMissingOrEscapingUnikernelIsRefused() throws Exception {
        assertTrue(failure(config("local/nope.hvt"), PluginConfig.defaults()).contains("does not exist"));
        Path outside = Files.write(tmp.resolve("outside.hvt"), TestUnikernels.image(AbiTarget.HVT, 2, Map.of()));
        assertTrue(failure(config("../../outside.hvt"), PluginConfig.defaults()).contains("outside"));
        Files.createSymbolicLink(taskDir.resolve("local/link.hvt"), outside);
        String viaLink = failure(config("local/link.hvt"), PluginConfig.defaults());
        assertTrue(viaLink.startsWith("unikernel:") && viaLink.contains("outside"), viaLink);
        String absolute = failure(config(outside.toString()), PluginConfig.defaults());
        assertTrue(absolute.contains("image_paths is empty"), absolute);
    }

    @Test
    void absolutePathsMustBeUnderImagePaths() throws Exception {
        Path images = Files.createDirectories(tmp.resolve("images"));
        Path inside = Files.write(images.resolve("a.hvt"), TestUnikernels.image(AbiTarget.HVT, 2, Map.of()));
        Path other = Files.write(tmp.resolve("b.hvt"), TestUnikernels.image(AbiTarget.HVT, 2, Map.of()));
        PluginConfig plugin = withImagePaths(PluginConfig.defaults(), List.of(images));
        assertEquals(inside.toRealPath(), plan(config(inside.toString()), plugin).kernel());
        assertTrue(failure(config(other.toString()), plugin).contains("image_paths"));
    }

    @Test
    void notAUnikernelSaysWhy() throws Exception {
        Files.writeString(taskDir.resolve("local/readme.txt"), "hello");
        String message = failure(config("local/readme.txt"), PluginConfig.defaults());
        assertTrue(message.startsWith("unikernel:") && message.contains("not a Solo5 unikernel"), message);
    }

    @Test
    void anIncompatibleTenderOverrideIsRefused() throws Exception {
        image("local/app.hvt", AbiTarget.HVT, Map.of());
        String message = failure(config("local/app.hvt", List.of(), Optional.of("solo5-spt"), QemuOptions.defaults(),
                List.of()), PluginConfig.defaults());
        assertTrue(message.startsWith("tender:") && message.contains("allowed: solo5-hvt"), message);
    }

    @Test
    void hvtNeedsKvmAndAMissingTenderIsNamed() throws Exception {
        image("local/app.hvt", AbiTarget.HVT, Map.of());
        kvm = false;
        assertTrue(failure(config("local/app.hvt"), PluginConfig.defaults()).contains("/dev/kvm"));
        image("local/app.spt", AbiTarget.SPT, Map.of());
        PluginConfig missing = new PluginConfig("solo5-hvt", "missing-spt", "qemu", "mirage0",
                PluginConfig.defaults().subnet(), PluginConfig.defaults().stateDir(), List.of(),
                PluginConfig.defaults().logLevel(), PluginConfig.defaults().fingerprintPeriod(), "nobody", false, PluginConfig.Limits.defaults(), "00:80:41", 1500, false, PluginConfig.defaults().reconcile());
        String message = failure(config("local/app.spt"), missing);
        assertTrue(message.contains("no solo5-spt") && message.contains("solo5_spt"), message);
    }

    @Test
    void blockDevicesMustMatchTheManifest() throws Exception {
        Map<String, DeviceType> devices = new LinkedHashMap<>();
        devices.put("storage", DeviceType.BLOCK_BASIC);
        image("local/app.hvt", AbiTarget.HVT, devices);
        String missing = failure(config("local/app.hvt"), PluginConfig.defaults());
        assertTrue(missing.contains("[storage]") && missing.contains("does not configure"), missing);

        var unknown = List.of(new BlockDeviceConfig("data", "local/d.img", Optional.of(4096L), 512, false));
        String unknownMessage = failure(config("local/app.hvt", unknown, Optional.empty(), QemuOptions.defaults(),
                List.of()), PluginConfig.defaults());
        assertTrue(unknownMessage.startsWith("block[0].name: \"data\"") && unknownMessage.contains("\"storage\""),
                unknownMessage);

        var readOnly = List.of(new BlockDeviceConfig("storage", "local/d.img", Optional.of(4096L), 512, true));
        assertTrue(failure(config("local/app.hvt", readOnly, Optional.empty(), QemuOptions.defaults(), List.of()),
                PluginConfig.defaults()).startsWith("block[0].read_only"));

        var noSize = List.of(new BlockDeviceConfig("storage", "local/d.img", Optional.empty(), 512, false));
        assertTrue(failure(config("local/app.hvt", noSize, Optional.empty(), QemuOptions.defaults(), List.of()),
                PluginConfig.defaults()).contains("set block[0].size"));

        var ok = List.of(new BlockDeviceConfig("storage", "local/d.img", Optional.of(8192L), 512, false));
        var planned = plan(config("local/app.hvt", ok, Optional.empty(), QemuOptions.defaults(), List.of()),
                PluginConfig.defaults());
        assertEquals(List.of(new StartPlan.NewBlockFile("block[0].path",
                new ConfinedPath(taskDir.toRealPath(), Path.of("local/d.img")), 8192L)), planned.filesToCreate());
        assertEquals(List.of(), planned.filesToCheck());
        assertEquals("storage", planned.blocks().getFirst().device());

        var escaping = List.of(new BlockDeviceConfig("storage", "../../../escape.img", Optional.of(8192L), 512, false));
        assertTrue(failure(config("local/app.hvt", escaping, Optional.empty(), QemuOptions.defaults(), List.of()),
                PluginConfig.defaults()).contains("outside"));
    }

    @Test
    void anExistingBlockFileMustBeWholeSectors() throws Exception {
        image("local/app.spt", AbiTarget.SPT, Map.of("storage", DeviceType.BLOCK_BASIC));
        Files.write(taskDir.resolve("local/d.img"), new byte[1000]);
        var blocks = List.of(new BlockDeviceConfig("storage", "local/d.img", Optional.empty(), 512, false));
        assertTrue(failure(config("local/app.spt", blocks, Optional.empty(), QemuOptions.defaults(), List.of()),
                PluginConfig.defaults()).contains("1000 bytes"));
    }

    @Test
    void networkDevicesArePlannedAsRequestsWithoutTouchingTheHost() throws Exception {
        image("local/app.hvt", AbiTarget.HVT, Map.of("service", DeviceType.NET_BASIC));
        StartPlan planned = plan(config("local/app.hvt"), PluginConfig.defaults());
        assertTrue(planned.wantsNetwork());
        assertEquals(List.of("service"), planned.netRequests().stream().map(r -> r.device()).toList());
        assertEquals(List.of(), planned.bind(Optional.empty()).nets(), "nothing is bound before the attach");
    }

    @Test
    void networkBlocksWithoutNetworkDevicesAreRefused() throws Exception {
        image("local/app.hvt", AbiTarget.HVT, Map.of());
        TaskConfig withNetwork = new TaskConfig("local/app.hvt", List.of(), Optional.empty(), List.of(),
                QemuOptions.defaults(), List.of(new TaskConfig.NetDeviceConfig("service", Optional.empty(), Optional.empty(),
                        Optional.empty(), Optional.empty(), Optional.empty())), false);
        String message = failure(withNetwork, PluginConfig.defaults());
        assertTrue(message.startsWith("network[0].device: \"service\"") && message.contains("declares none"), message);
    }

    @Test
    void qemuExtraArgsOnlyFromTheAllowList() throws Exception {
        image("local/app.virtio", AbiTarget.VIRTIO, Map.of());
        QemuOptions smp = new QemuOptions(Accelerator.TCG, Optional.empty(), List.of("-smp", "2"));
        String refused = failure(config("local/app.virtio", List.of(), Optional.empty(), smp, List.of()),
                PluginConfig.defaults());
        assertTrue(refused.startsWith("qemu.args[0]: \"-smp\" is not allowed"), refused);
        PluginConfig allowing = withQemuArgs(Map.of("-smp", "[0-9]{1,3}"));
        assertEquals(List.of("-smp", "2"), plan(config("local/app.virtio", List.of(), Optional.empty(), smp, List.of()),
                allowing).qemu().orElseThrow().extraArgs());
    }

    private String qemuArgsFailure(Map<String, String> allowed, String... args) throws Exception {
        image("local/app.virtio", AbiTarget.VIRTIO, Map.of());
        QemuOptions qemu = new QemuOptions(Accelerator.TCG, Optional.empty(), List.of(args));
        return failure(config("local/app.virtio", List.of(), Optional.empty(), qemu, List.of()), withQemuArgs(allowed));
    }

    @Test
    void aBareWordInQemuArgsIsRefusedBecauseQemuWouldOpenItAsADisk() throws Exception {
        // qemu attached ["-smp", "2", "/etc/shadow"] as ide0-hd0 when only option names were checked.
        String refused = qemuArgsFailure(Map.of("-smp", "[0-9]{1,3}"), "-smp", "2", "/etc/shadow");
        assertTrue(refused.startsWith("qemu.args[2]: \"/etc/shadow\" is not an option"), refused);
        String first = qemuArgsFailure(Map.of("-smp", "[0-9]{1,3}"), "disk.img");
        assertTrue(first.startsWith("qemu.args[0]: \"disk.img\" is not an option"), first);
        // A flag (no value) followed by a word: the word is a bare word too.
        String afterFlag = qemuArgsFailure(Map.of("-no-hpet", ""), "-no-hpet", "/etc/shadow");
        assertTrue(afterFlag.startsWith("qemu.args[1]: \"/etc/shadow\" is not an option"), afterFlag);
    }

    @Test
    void aQemuOptionsValueMustMatchItsPatternWhole() throws Exception {
        Map<String, String> allowed = Map.of("-smp", "[0-9]{1,3}", "-no-hpet", "");
        String path = qemuArgsFailure(allowed, "-smp", "2,file=/etc/shadow");
        assertTrue(path.startsWith("qemu.args[1]: \"2,file=/etc/shadow\" is not an allowed value for -smp")
                && path.contains("[0-9]{1,3}"), path);
        String missing = qemuArgsFailure(allowed, "-no-hpet", "-smp");
        assertTrue(missing.startsWith("qemu.args[1]: \"-smp\" needs a value"), missing);
        String dashed = qemuArgsFailure(allowed, "--smp", "2");
        assertTrue(dashed.startsWith("qemu.args[0]: \"--smp\" is not allowed"), dashed);
        assertEquals(List.of("-no-hpet", "-smp", "16"), plan(config("local/app.virtio", List.of(), Optional.empty(),
                new QemuOptions(Accelerator.TCG, Optional.empty(), List.of("-no-hpet", "-smp", "16")), List.of()),
                withQemuArgs(allowed)).qemu().orElseThrow().extraArgs());
    }

    @Test
    void aBlockFileLargerThanTheOperatorsLimitIsNotCreated() throws Exception {
        image("local/app.hvt", AbiTarget.HVT, Map.of("storage", DeviceType.BLOCK_BASIC));
        var huge = List.of(new BlockDeviceConfig("storage", "local/d.img", Optional.of(1L << 40), 512, false));
        String refused = failure(config("local/app.hvt", huge, Optional.empty(), QemuOptions.defaults(), List.of()),
                PluginConfig.defaults());
        assertTrue(refused.startsWith("block[0].size: ") && refused.contains("max_block_size"), refused);
        assertTrue(refused.contains("16GiB"), refused);

        var limit = List.of(new BlockDeviceConfig("storage", "local/d.img", Optional.of(16L << 30), 512, false));
        assertEquals(16L << 30, plan(config("local/app.hvt", limit, Optional.empty(), QemuOptions.defaults(), List.of()),
                PluginConfig.defaults()).filesToCreate().getFirst().sizeBytes());
        PluginConfig.Limits small = new PluginConfig.Limits(Map.of(), 1L << 20, List.of());
        String overSmall = failure(config("local/app.hvt", limit, Optional.empty(), QemuOptions.defaults(), List.of()),
                withLimits(PluginConfig.defaults(), small));
        assertTrue(overSmall.contains("max_block_size is 1MiB"), overSmall);
    }

    private static PluginConfig withQemuArgs(Map<String, String> allowed) {
        return withLimits(PluginConfig.defaults(), new PluginConfig.Limits(allowed,
                PluginConfig.Limits.defaults().maxBlockBytes(), List.of()));
    }

    private static PluginConfig withLimits(PluginConfig c, PluginConfig.Limits limits) {
        return new PluginConfig(c.solo5Hvt(), c.solo5Spt(), c.qemu(), c.bridge(), c.subnet(), c.stateDir(),
                c.imagePaths(), c.logLevel(), c.fingerprintPeriod(), c.defaultUser(), c.qemuAutoKvm(), limits,
                c.macOui(), c.mtu(), c.isolateTasks(), c.reconcile());
    }

    private static PluginConfig withAutoKvm(PluginConfig c) {
        return new PluginConfig(c.solo5Hvt(), c.solo5Spt(), c.qemu(), c.bridge(), c.subnet(), c.stateDir(),
                c.imagePaths(), c.logLevel(), c.fingerprintPeriod(), c.defaultUser(), true, c.limits(), c.macOui(), c.mtu(), c.isolateTasks(), c.reconcile());
    }

    private static PluginConfig withImagePaths(PluginConfig c, List<Path> paths) {
        return new PluginConfig(c.solo5Hvt(), c.solo5Spt(), c.qemu(), c.bridge(), c.subnet(), c.stateDir(),
                paths, c.logLevel(), c.fingerprintPeriod(), c.defaultUser(), c.qemuAutoKvm(), c.limits(), c.macOui(), c.mtu(), c.isolateTasks(), c.reconcile());
    }
}
