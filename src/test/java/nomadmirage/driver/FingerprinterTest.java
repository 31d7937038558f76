package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.io.IOException;
import java.util.Set;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.cgroup.CgroupPlan;
import nomadmirage.cgroup.CgroupRequest;
import nomadmirage.cgroup.CgroupUsage;
import nomadmirage.config.PluginConfig;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;
import org.junit.jupiter.api.Test;

class FingerprinterTest {
    /** A host whose executables, /dev/kvm and interfaces are whatever the test says. */
    private static final class FakeHost implements HostInspector {
        Map<String, Path> executables = Map.of();
        boolean kvm;
        String bridgeState;
        String stateDirProblem;

        @Override
        public Optional<Path> findExecutable(String nameOrPath) {
            return Optional.ofNullable(executables.get(nameOrPath));
        }

        @Override
        public boolean canOpenReadWrite(Path path) {
            return kvm && path.equals(Path.of("/dev/kvm"));
        }

        @Override
        public Optional<String> interfaceState(String name) {
            return Optional.ofNullable(bridgeState);
        }

        @Override
        public Optional<String> prepareWritableDirectory(Path dir) {
            return Optional.ofNullable(stateDirProblem);
        }
    }

    private final List<List<String>> commandsRun = new ArrayList<>();
    private final CommandRunner versions = (argv, timeout) -> {
        commandsRun.add(argv);
        String out = argv.getFirst().contains("qemu")
                ? "QEMU emulator version 7.2.18 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright (c) 2003-2022\n"
                : "";
        String err = argv.getFirst().contains("qemu") ? "" : "solo5-hvt tender, version v0.9.3\nABI version 2\n";
        return new CommandResult(argv, 0, out, err, false);
    };

    private static final CgroupLayout FULL_V1 = CgroupLayout.parse(List.of(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
            "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset",
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
            "39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids"), Path.of("/sys/fs/cgroup"));

    /** Cgroups with a given layout whose parent can be prepared, or fails with {@code prepareProblem}. */
    private record FakeCgroups(CgroupLayout layout, String prepareProblem) implements TaskCgroups {
        @Override
        public void prepare(PluginConfig plugin) throws IOException {
            if (prepareProblem != null) {
                throw new IOException(prepareProblem);
            }
        }

        @Override
        public CgroupPlan plan(PluginConfig plugin, String task, CgroupRequest request) {
            return CgroupPlan.NONE;
        }

        @Override
        public List<String> remove(PluginConfig plugin, String task) {
            return List.of();
        }

        @Override
        public List<Path> reconcile(PluginConfig plugin, Set<String> keep) {
            return List.of();
        }

        @Override
        public Optional<CgroupUsage> usage(PluginConfig plugin, String task) {
            return Optional.empty();
        }
    }

    private Fingerprint qemuNodeWith(TaskCgroups cgroups) {
        FakeHost host = new FakeHost();
        host.executables = Map.of("qemu-system-x86_64", Path.of("/usr/bin/qemu-system-x86_64"));
        return new Fingerprinter(host, versions, "1", cgroups).fingerprint(PluginConfig.defaults());
    }

    @Test
    void aNodeWithoutCgroupsStaysHealthyButSaysNothingIsEnforced() {
        Fingerprint fp = qemuNodeWith(new FakeCgroups(CgroupLayout.NONE, null));
        assertEquals(Health.HEALTHY, fp.health());
        assertEquals("none", fp.attributes().get("driver.mirage.cgroup"));
        assertEquals("", fp.attributes().get("driver.mirage.cgroup.enforced"));
        assertTrue(fp.description().contains("no cgroup hierarchy is mounted: task cpu, memory and cores are not enforced"),
                fp.description());
    }

    @Test
    void missingControllersAreNamedWithWhatTheyMeanForTasks() {
        CgroupLayout v2 = CgroupLayout.parse(List.of("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"),
                Path.of("/sys/fs/cgroup")).withV2Controllers("cpu memory");
        Fingerprint fp = qemuNodeWith(new FakeCgroups(v2, null));
        assertEquals("v2", fp.attributes().get("driver.mirage.cgroup"));
        assertEquals("cpu,memory", fp.attributes().get("driver.mirage.cgroup.enforced"));
        assertTrue(fp.description().contains("cgroup v2 has no cpuset, pids controllers for tasks: reserved cores are "
                + "not enforced; the number of tender threads is not limited"), fp.description());
    }

    @Test
    void aParentThatCannotBeCreatedEnforcesNothing() {
        Fingerprint fp = qemuNodeWith(new FakeCgroups(FULL_V1, "Read-only file system"));
        assertEquals("", fp.attributes().get("driver.mirage.cgroup.enforced"));
        assertTrue(fp.description().contains("cannot create the cgroup parent \"nomad-mirage\" (Read-only file system)"),
                fp.description());
    }

    @Test
    void withoutNftTheNodeStaysHealthyButSaysNetworkedTasksCannotStart() {
        FakeHost host = new FakeHost();
        host.executables = Map.of("qemu-system-x86_64", Path.of("/usr/bin/qemu-system-x86_64"));
        Fingerprint fp = new Fingerprinter(host, versions, "1.2.3").fingerprint(PluginConfig.defaults());
        assertEquals(Health.HEALTHY, fp.health());
        assertTrue(fp.description().contains("networked tasks cannot start: nft") && fp.description().contains("nftables"),
                fp.description());
        assertEquals("", fp.attributes().get("driver.mirage.nft.path"));
    }

    @Test
    void noTenderAtAllIsUndetectedWithAHint() {
        FakeHost host = new FakeHost();
        Fingerprint fp = new Fingerprinter(host, versions, "1.2.3").fingerprint(PluginConfig.defaults());
        assertEquals(Health.UNDETECTED, fp.health());
        assertTrue(fp.description().contains("install solo5-hvt"), fp.description());
        assertEquals("", fp.attributes().get("driver.mirage.qemu.path"));
        assertEquals("1.2.3", fp.attributes().get("driver.mirage.version"));
    }

    @Test
    void qemuAloneIsHealthyForVirtioWithItsVersion() {
        FakeHost host = new FakeHost();
        host.executables = Map.of("qemu-system-x86_64", Path.of("/usr/bin/qemu-system-x86_64"), "nft", Path.of("/usr/sbin/nft"));
        host.bridgeState = "up";
        Fingerprint fp = new Fingerprinter(host, versions, "1.2.3", new FakeCgroups(FULL_V1, null))
                .fingerprint(PluginConfig.defaults());
        assertEquals(Health.HEALTHY, fp.health());
        assertEquals("Healthy", fp.description());
        assertEquals("/usr/sbin/nft", fp.attributes().get("driver.mirage.nft.path"));
        assertEquals("v1", fp.attributes().get("driver.mirage.cgroup"));
        assertEquals("cpu,memory,pids,cpuset", fp.attributes().get("driver.mirage.cgroup.enforced"));
        assertEquals("7.2.18", fp.attributes().get("driver.mirage.qemu.version"));
        assertEquals("/usr/bin/qemu-system-x86_64", fp.attributes().get("driver.mirage.qemu.path"));
        assertEquals("virtio", fp.attributes().get("driver.mirage.targets"));
        assertEquals("up", fp.attributes().get("driver.mirage.bridge.state"));
        assertEquals(false, fp.attributes().get("driver.mirage.kvm"));
    }

    @Test
    void hvtWithoutKvmIsUnhealthyAndSaysWhy() {
        FakeHost host = new FakeHost();
        host.executables = Map.of("solo5-hvt", Path.of("/usr/local/bin/solo5-hvt"));
        Fingerprint fp = new Fingerprinter(host, versions, "1").fingerprint(PluginConfig.defaults());
        assertEquals(Health.UNHEALTHY, fp.health());
        assertTrue(fp.description().contains("/dev/kvm"), fp.description());
        assertEquals("v0.9.3", fp.attributes().get("driver.mirage.solo5_hvt.version"));
        assertEquals(2L, fp.attributes().get("driver.mirage.solo5_hvt.abi_version"));
        assertEquals("absent", fp.attributes().get("driver.mirage.bridge.state"));
    }

    @Test
    void allTendersWithKvmRunEveryTarget() {
        FakeHost host = new FakeHost();
        host.kvm = true;
        host.executables = Map.of("solo5-hvt", Path.of("/a/solo5-hvt"), "solo5-spt", Path.of("/a/solo5-spt"),
                "qemu-system-x86_64", Path.of("/a/qemu"));
        Fingerprint fp = new Fingerprinter(host, versions, "1").fingerprint(PluginConfig.defaults());
        assertEquals(Health.HEALTHY, fp.health());
        assertEquals("hvt,spt,virtio", fp.attributes().get("driver.mirage.targets"));
        assertEquals(true, fp.attributes().get("driver.mirage.kvm"));
    }

    @Test
    void anUnusableStateDirectoryIsUnhealthy() {
        FakeHost host = new FakeHost();
        host.executables = Map.of("qemu-system-x86_64", Path.of("/usr/bin/qemu"));
        host.stateDirProblem = "/var/lib/nomad-driver-mirage is not writable by the plugin";
        Fingerprint fp = new Fingerprinter(host, versions, "1").fingerprint(PluginConfig.defaults());
        assertEquals(Health.UNHEALTHY, fp.health());
        assertTrue(fp.description().startsWith("state_dir unusable"), fp.description());
    }

    @Test
    void tenderVersionsAreAskedOncePerPath() {
        FakeHost host = new FakeHost();
        host.executables = Map.of("qemu-system-x86_64", Path.of("/usr/bin/qemu"));
        Fingerprinter fingerprinter = new Fingerprinter(host, versions, "1");
        fingerprinter.fingerprint(PluginConfig.defaults());
        fingerprinter.fingerprint(PluginConfig.defaults());
        assertEquals(1, commandsRun.size());
        assertEquals(List.of("/usr/bin/qemu", "--version"), commandsRun.getFirst());
    }
}
