package nomadmirage.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CgroupLayoutTest {
    private static final Path ROOT = Path.of("/sys/fs/cgroup");

    /** This project's test machine: v1 controllers, cpu and cpuacct apart, and an empty unified hierarchy. */
    static final List<String> HYBRID = List.of(
            "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
            "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct",
            "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
            "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
            "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
            "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw");

    @Test
    void aHybridHostIsV1WithEachControllersOwnHierarchy() {
        CgroupLayout layout = CgroupLayout.parse(HYBRID, ROOT);
        assertEquals(CgroupVersion.V1, layout.version());
        assertEquals(EnumSet.allOf(Controller.class), layout.available());
        assertEquals(Path.of("/sys/fs/cgroup/cpu"), layout.mount(Controller.CPU));
        assertEquals(Path.of("/sys/fs/cgroup/cpuacct"), layout.mount(Controller.CPUACCT));
        assertEquals(Set.of(), layout.missing());
    }

    @Test
    void coMountedCpuAndCpuacctShareOneHierarchy() {
        CgroupLayout layout = CgroupLayout.parse(List.of(
                "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
                "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory"), ROOT);
        assertEquals(layout.mount(Controller.CPU), layout.mount(Controller.CPUACCT));
        assertEquals(EnumSet.of(Controller.CPUSET, Controller.PIDS), layout.missing());
    }

    @Test
    void unifiedAtTheRootIsV2WithTheControllersTheRootOffers() {
        CgroupLayout layout = CgroupLayout.parse(List.of(
                "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"), ROOT)
                .withV2Controllers("cpuset cpu io memory hugetlb pids rdma misc\n");
        assertEquals(CgroupVersion.V2, layout.version());
        assertEquals(ROOT, layout.mount(Controller.MEMORY));
        assertEquals(EnumSet.of(Controller.CPU, Controller.CPUSET, Controller.MEMORY, Controller.PIDS),
                layout.available());
        assertEquals(Set.of(), layout.missing());
    }

    @Test
    void aV2RootWithoutControllersMissesThemAll() {
        CgroupLayout layout = CgroupLayout.parse(List.of(
                "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"), ROOT).withV2Controllers("hugetlb");
        assertEquals(EnumSet.of(Controller.CPU, Controller.CPUSET, Controller.MEMORY, Controller.PIDS), layout.missing());
    }

    @Test
    void noCgroupMountsIsNone() {
        assertEquals(CgroupLayout.NONE, CgroupLayout.parse(List.of(
                "22 1 0:21 / /proc rw - proc proc rw"), ROOT));
    }

    @Test
    void escapedMountPointsAreUnescaped() {
        CgroupLayout layout = CgroupLayout.parse(List.of(
                "35 31 0:32 / /cg/mem\\040ory rw - cgroup cgroup rw,memory"), ROOT);
        assertEquals(Path.of("/cg/mem ory"), layout.mount(Controller.MEMORY));
    }
}
