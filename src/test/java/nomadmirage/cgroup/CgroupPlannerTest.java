package nomadmirage.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import nomadmirage.proc.CgroupJoin;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CgroupPlannerTest {
    private static final long MIB = 1024L * 1024;
    private static final CgroupLayout V1 = CgroupLayout.parse(CgroupLayoutTest.HYBRID, Path.of("/sys/fs/cgroup"));
    private static final CgroupLayout V2 = CgroupLayout.parse(List.of(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"), Path.of("/sys/fs/cgroup"))
            .withV2Controllers("cpuset cpu io memory pids");

    private static CgroupRequest request(TenderKind kind, long cpu, long memory, long memoryMax, String cores,
            String cpusetCgroup) {
        return new CgroupRequest(kind, cpu, memory, memoryMax, cores, cpusetCgroup);
    }

    /** Every write of the plan as "dir/file" → value, in order. */
    private static Map<String, String> writes(CgroupPlan plan) {
        Map<String, String> out = new LinkedHashMap<>();
        for (CgroupJoin join : plan.joins()) {
            for (CgroupJoin.Write w : join.writes()) {
                out.put(join.dir().resolve(w.file()).toString(), w.value());
            }
        }
        return out;
    }

    @Test
    void v1GivesEachHierarchyTheTasksCgroupWithItsLimits() {
        CgroupPlan plan = CgroupPlanner.plan(V1, "nomad-mirage", "t1", request(TenderKind.SOLO5_HVT, 500, 32, 0, "", ""));
        assertEquals(List.of(Path.of("/sys/fs/cgroup/cpu/nomad-mirage/t1"), Path.of("/sys/fs/cgroup/cpuacct/nomad-mirage/t1"),
                Path.of("/sys/fs/cgroup/memory/nomad-mirage/t1"), Path.of("/sys/fs/cgroup/pids/nomad-mirage/t1")),
                plan.ownedDirs());
        long hvtOverhead = TenderOverhead.of(TenderKind.SOLO5_HVT).memoryBytes();
        assertEquals(Map.of(
                "/sys/fs/cgroup/cpu/nomad-mirage/t1/cpu.shares", "500",
                "/sys/fs/cgroup/memory/nomad-mirage/t1/memory.limit_in_bytes", Long.toString(32 * MIB + hvtOverhead),
                "/sys/fs/cgroup/pids/nomad-mirage/t1/pids.max", "16"), writes(plan));
        assertEquals(Optional.of(Path.of("/sys/fs/cgroup/memory/nomad-mirage/t1")), plan.dirs().memory());
        assertEquals(Optional.of(Path.of("/sys/fs/cgroup/cpuacct/nomad-mirage/t1")), plan.dirs().cpuacct());
    }

    @Test
    void memoryMaxRaisesTheHardLimitAndTheGuestMemoryBecomesTheSoftOne() {
        CgroupLimits limits = CgroupPlanner.limits(request(TenderKind.QEMU, 100, 128, 256, "", ""));
        long qemu = TenderOverhead.of(TenderKind.QEMU).memoryBytes();
        assertEquals(256 * MIB + qemu, limits.memoryLimitBytes());
        assertEquals(128 * MIB + qemu, limits.memorySoftBytes());
        CgroupPlan plan = CgroupPlanner.plan(V1, "p", "t", request(TenderKind.QEMU, 100, 128, 256, "", ""));
        assertEquals(Long.toString(128 * MIB + qemu), writes(plan).get("/sys/fs/cgroup/memory/p/t/memory.soft_limit_in_bytes"));
    }

    @Test
    void withoutMemoryMaxThereIsNoSoftLimit() {
        CgroupLimits limits = CgroupPlanner.limits(request(TenderKind.SOLO5_SPT, 100, 64, 0, "", ""));
        assertEquals(0, limits.memorySoftBytes());
        assertFalse(writes(CgroupPlanner.plan(V1, "p", "t", request(TenderKind.SOLO5_SPT, 100, 64, 0, "", "")))
                .containsKey("/sys/fs/cgroup/memory/p/t/memory.soft_limit_in_bytes"));
    }

    @Test
    void qemuGetsMoreOverheadAndThreadsThanSolo5Tenders() {
        TenderOverhead hvt = TenderOverhead.of(TenderKind.SOLO5_HVT);
        TenderOverhead qemu = TenderOverhead.of(TenderKind.QEMU);
        assertTrue(qemu.memoryBytes() >= 40 * MIB && hvt.memoryBytes() >= 2 * MIB && hvt.memoryBytes() < qemu.memoryBytes());
        assertTrue(qemu.pidsMax() > hvt.pidsMax());
    }

    @Test
    void withoutACpuAskNoSharesAreWritten() {
        assertFalse(writes(CgroupPlanner.plan(V1, "p", "t", request(TenderKind.SOLO5_HVT, 0, 16, 0, "", "")))
                .containsKey("/sys/fs/cgroup/cpu/p/t/cpu.shares"));
    }

    @ParameterizedTest
    @CsvSource({"1,2", "2,2", "500,500", "300000,262144"})
    void sharesAreClampedToWhatTheKernelTakes(long cpu, long shares) {
        assertEquals(shares, CgroupPlanner.limits(request(TenderKind.SOLO5_HVT, cpu, 16, 0, "", "")).cpuShares());
    }

    /** Nomad's table (runc's conversion), resources-facts.md section 6.2. */
    @ParameterizedTest
    @CsvSource({"2,1", "100,4", "250,10", "500,19", "1000,39", "1024,39", "2000,77", "4000,153", "262144,10000"})
    void v2WeightIsNomadsConversionOfTheShares(long shares, long weight) {
        assertEquals(weight, CgroupPlanner.weight(shares));
    }

    @Test
    void v1ReservedCoresJoinNomadsCpusetCgroupWithoutOwningIt() {
        String nomads = "/sys/fs/cgroup/cpuset/nomad/reserved/a1-web";
        CgroupPlan plan = CgroupPlanner.plan(V1, "p", "t", request(TenderKind.SOLO5_HVT, 1500, 16, 0, "1", nomads));
        CgroupJoin cpuset = plan.joins().getLast();
        assertEquals(new CgroupJoin(Path.of(nomads), false, List.of()), cpuset);
        assertFalse(plan.ownedDirs().contains(Path.of(nomads)));
    }

    @Test
    void v1ReservedCoresWithoutNomadsCgroupGetACpusetOfTheirOwn() {
        CgroupPlan plan = CgroupPlanner.plan(V1, "p", "t", request(TenderKind.SOLO5_HVT, 1500, 16, 0, "0,1", ""));
        assertEquals("0,1", writes(plan).get("/sys/fs/cgroup/cpuset/p/t/cpuset.cpus"));
        assertTrue(plan.ownedDirs().contains(Path.of("/sys/fs/cgroup/cpuset/p/t")));
    }

    @Test
    void withoutCoresNoCpusetIsJoined() {
        CgroupPlan plan = CgroupPlanner.plan(V1, "p", "t", request(TenderKind.SOLO5_HVT, 100, 16, 0, "", ""));
        assertTrue(plan.joins().stream().noneMatch(j -> j.dir().startsWith("/sys/fs/cgroup/cpuset")));
    }

    @Test
    void aCpusetCgroupOutsideTheCpusetHierarchyIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CgroupPlanner.plan(V1, "p", "t",
                request(TenderKind.SOLO5_HVT, 100, 16, 0, "1", "/sys/fs/cgroup/memory/../cpuset/x")));
        assertTrue(e.getMessage().startsWith("cpuset_cgroup:"), e.getMessage());
    }

    @Test
    void malformedCoresAreRefusedNamingTheField() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CgroupPlanner.limits(request(TenderKind.SOLO5_HVT, 100, 16, 0, "1;2", "")));
        assertTrue(e.getMessage().startsWith("cpuset_cpus:"), e.getMessage());
    }

    @Test
    void v2PutsEveryLimitIntoOneCgroup() {
        CgroupPlan plan = CgroupPlanner.plan(V2, "mirage.slice", "t", request(TenderKind.QEMU, 1500, 128, 0, "2,3",
                "/sys/fs/cgroup/nomad.slice/a.web.scope"));
        Path dir = Path.of("/sys/fs/cgroup/mirage.slice/t");
        assertEquals(List.of(dir), plan.ownedDirs());
        long qemu = TenderOverhead.of(TenderKind.QEMU).memoryBytes();
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put(dir + "/cpu.weight", "58");
        expected.put(dir + "/memory.max", Long.toString(128 * MIB + qemu));
        expected.put(dir + "/pids.max", "64");
        expected.put(dir + "/cpuset.cpus", "2,3");
        assertEquals(expected, writes(plan));
        assertEquals(new TaskCgroupDirs(CgroupVersion.V2, Optional.of(dir), Optional.of(dir), Optional.of(dir)), plan.dirs());
    }

    @Test
    void v2WritesOnlyForControllersTheRootOffers() {
        CgroupLayout bare = CgroupLayout.parse(List.of("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"),
                Path.of("/sys/fs/cgroup")).withV2Controllers("memory");
        CgroupPlan plan = CgroupPlanner.plan(bare, "p", "t", request(TenderKind.SOLO5_HVT, 500, 16, 32, "1", ""));
        assertEquals(List.of("/sys/fs/cgroup/p/t/memory.max", "/sys/fs/cgroup/p/t/memory.low"),
                List.copyOf(writes(plan).keySet()));
    }

    @Test
    void noHierarchyPlansNothing() {
        assertTrue(CgroupPlanner.plan(CgroupLayout.NONE, "p", "t", request(TenderKind.SOLO5_HVT, 500, 16, 0, "", ""))
                .isEmpty());
    }

    @Test
    void aTaskNameMustBeOneDirectory() {
        assertThrows(IllegalArgumentException.class, () -> CgroupPlanner.plan(V1, "p", "../x",
                request(TenderKind.SOLO5_HVT, 500, 16, 0, "", "")));
    }
}
