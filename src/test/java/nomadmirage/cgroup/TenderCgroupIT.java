package nomadmirage.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import nomadmirage.proc.CgroupJoin;
import nomadmirage.proc.ExitStatus;
import nomadmirage.proc.LaunchException;
import nomadmirage.proc.LaunchRequest;
import nomadmirage.proc.NativeSupervisor;
import nomadmirage.proc.SupervisedProcess;
import nomadmirage.proc.TaskUser;
import nomadmirage.tender.TenderKind;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real mirage-supervisor on this machine's real cgroup hierarchies (v1 here): a tender lands in the
 * cgroups the planner computed, with those limits, an OOM score of 0, and the cgroups are gone once it
 * ended or failed to start. Everything lives under a parent named for this test run, removed afterwards.
 */
class TenderCgroupIT {
    private static final long MIB = 1024L * 1024;

    @TempDir
    Path tmp;

    private final CgroupLayout layout = CgroupLayout.detect();
    private final String parent = "mg-cg-it-" + UUID.randomUUID().toString().substring(0, 8);
    private final List<SupervisedProcess> launched = new ArrayList<>();
    private NativeSupervisor supervisor;
    private CgroupTree tree;

    @BeforeEach
    void prepare() throws IOException {
        TestEnv.requireRoot("creating cgroups needs root");
        TestEnv.require(layout.version() != CgroupVersion.NONE, "no cgroup hierarchy is mounted");
        Path binary = TestEnv.repo().resolve("target/mirage-supervisor");
        assertTrue(Files.isExecutable(binary), "missing mirage-supervisor at " + binary + " (run ./mvnw package)");
        supervisor = new NativeSupervisor(binary);
        tree = new CgroupTree(layout, parent);
        tree.prepare();
    }

    @AfterEach
    void removeEverything() throws Exception {
        for (SupervisedProcess p : launched) {
            if (p.isAlive()) {
                p.signal(9);
                p.exit().get(30, TimeUnit.SECONDS);
            }
        }
        if (tree != null) {
            tree.removeAllBut(Set.of());
            for (Path dir : tree.parentDirs()) {
                Files.deleteIfExists(dir);
            }
        }
    }

    private CgroupPlan plan(String task, CgroupRequest request) {
        return CgroupPlanner.plan(layout, parent, task, request);
    }

    private SupervisedProcess launch(List<String> argv, String task, CgroupPlan plan, TaskUser user)
            throws LaunchException {
        SupervisedProcess p = supervisor.launch(new LaunchRequest(argv, Path.of("/"), null, null, tmp.resolve("run-" + task),
                user, Set.of(), plan.joins(), null));
        launched.add(p);
        return p;
    }

    @Test
    void aTenderRunsInItsCgroupsWithThePlannedLimitsAndTheyAreRemovedWhenItEnds() throws Exception {
        CgroupPlan plan = plan("t1", new CgroupRequest(TenderKind.SOLO5_HVT, 500, 16, 0, "1", ""));
        int uid = 300_000 + java.util.concurrent.ThreadLocalRandom.current().nextInt(600_000); // no one else's
        String before = Files.readString(Path.of("/proc/self/oom_score_adj")).strip();
        SupervisedProcess p;
        // The agent runs at -1000 under its systemd unit and the tender must not inherit that; lowering
        // needs CAP_SYS_RESOURCE, which this machine's root lacks, so a raised value stands in for it.
        Files.writeString(Path.of("/proc/self/oom_score_adj"), "500");
        try {
            p = launch(List.of("/bin/sleep", "300"), "t1", plan, new TaskUser(uid, uid, List.of(), true));
        } finally {
            Files.writeString(Path.of("/proc/self/oom_score_adj"), before);
        }
        long pid = p.tender().pid();
        Map<String, String> membership = membership(pid);
        for (CgroupJoin join : plan.joins()) {
            String hierarchy = hierarchyOf(join.dir());
            Path mount = layout.mount(controllerOf(hierarchy));
            assertEquals("/" + mount.relativize(join.dir()), membership.get(hierarchy),
                    "the tender's " + hierarchy + " cgroup, /proc/" + pid + "/cgroup: " + membership);
            for (CgroupJoin.Write write : join.writes()) {
                assertEquals(write.value(), Files.readString(join.dir().resolve(write.file())).strip(), join.dir()
                        + "/" + write.file());
            }
        }
        assertEquals("0", Files.readString(Path.of("/proc", Long.toString(pid), "oom_score_adj")).strip());
        if (layout.version() == CgroupVersion.V1) {
            Path memory = layout.mount(Controller.MEMORY).resolve(parent).resolve("t1");
            assertEquals(Long.toString(16 * MIB + TenderOverhead.of(TenderKind.SOLO5_HVT).memoryBytes()),
                    Files.readString(memory.resolve("memory.limit_in_bytes")).strip());
            assertEquals("500", Files.readString(layout.mount(Controller.CPU).resolve(parent).resolve("t1")
                    .resolve("cpu.shares")).strip());
            assertEquals("1", Files.readString(layout.mount(Controller.CPUSET).resolve(parent).resolve("t1")
                    .resolve("cpuset.cpus")).strip());
            assertEquals("16", Files.readString(layout.mount(Controller.PIDS).resolve(parent).resolve("t1")
                    .resolve("pids.max")).strip());
            assertTrue(CgroupUsage.read(plan.dirs()).orElseThrow().memoryBytes() > 0, "the cgroup counts the tender");
        }

        p.signal(9);
        assertEquals(9, p.exit().get(30, TimeUnit.SECONDS).signal());
        for (Path dir : plan.ownedDirs()) {
            assertFalse(Files.exists(dir), dir + " outlived its tender");
        }
        assertTrue(CgroupUsage.read(plan.dirs()).isEmpty());
    }

    /**
     * Reserved cores on v1: the tender joins the cpuset cgroup Nomad made for the task (a stand-in for
     * Nomad's {@code nomad/reserved/<alloc>-<task>} under this test's parent) and leaves it in place.
     */
    @Test
    void reservedCoresJoinNomadsCpusetCgroupWhichOutlivesTheTender() throws Exception {
        TestEnv.require(layout.version() == CgroupVersion.V1 && layout.has(Controller.CPUSET), "no v1 cpuset hierarchy");
        Path nomads = layout.mount(Controller.CPUSET).resolve(parent).resolve("nomad-reserved-a1-web");
        Files.createDirectory(nomads); // cpus and mems cloned from the prepared parent
        Files.writeString(nomads.resolve("cpuset.cpus"), "0");
        CgroupPlan plan = plan("t7", new CgroupRequest(TenderKind.SOLO5_HVT, 1024, 16, 0, "0", nomads.toString()));
        SupervisedProcess p = launch(List.of("/bin/sleep", "300"), "t7", plan, null);
        assertEquals("/" + parent + "/nomad-reserved-a1-web", membership(p.tender().pid()).get("cpuset"));
        assertEquals("0", Files.readString(Path.of("/proc", Long.toString(p.tender().pid()), "status")).lines()
                .filter(l -> l.startsWith("Cpus_allowed_list:")).findFirst().orElseThrow().split("\\s+")[1]);
        p.signal(9);
        p.exit().get(30, TimeUnit.SECONDS);
        assertTrue(Files.isDirectory(nomads), "Nomad's cpuset cgroup is Nomad's to remove");
        assertFalse(Files.exists(layout.mount(Controller.MEMORY).resolve(parent).resolve("t7")));
    }

    /** A tender of a task with a shared user (no uid of its own to clear) leaves a process: its cgroup ends it. */
    @Test
    void whatTheTenderLeftInItsCgroupIsEndedAndTheCgroupRemoved() throws Exception {
        CgroupPlan plan = plan("t8", new CgroupRequest(TenderKind.SOLO5_HVT, 100, 16, 0, "", ""));
        Path left = tmp.resolve("left.pid");
        SupervisedProcess p = launch(List.of("/bin/sh", "-c",
                "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > " + left), "t8", plan, null);
        assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode());
        long pid = Long.parseLong(Files.readString(left).strip());
        ProcessHandle leftover = ProcessHandle.of(pid).orElse(null);
        assertTrue(leftover == null || leftover.onExit().get(30, TimeUnit.SECONDS) != null);
        for (Path dir : plan.ownedDirs()) {
            assertFalse(Files.exists(dir), dir + " outlived its tender");
        }
    }

    @Test
    void aTenderThatFailsToStartLeavesNoCgroup() throws Exception {
        CgroupPlan plan = plan("t2", new CgroupRequest(TenderKind.SOLO5_HVT, 100, 16, 0, "", ""));
        LaunchException e = assertThrows(LaunchException.class,
                () -> launch(List.of(tmp.resolve("no-such-tender").toString()), "t2", plan, null));
        assertTrue(e.getMessage().contains("execve"), e.getMessage());
        for (Path dir : plan.ownedDirs()) {
            assertFalse(Files.exists(dir), dir + " was left by a failed start");
        }
    }

    @Test
    void aLimitTheKernelRefusesFailsTheStartAndLeavesNoCgroup() throws Exception {
        Path cpu = layout.mount(Controller.CPU).resolve(parent).resolve("t3");
        CgroupPlan bad = new CgroupPlan(layout.version(), List.of(new CgroupJoin(cpu, true,
                List.of(new CgroupJoin.Write(layout.version() == CgroupVersion.V1 ? "cpu.shares" : "cpu.weight",
                        "banana")))), CgroupPlan.NONE.limits(), TaskCgroupDirs.NONE);
        LaunchException e = assertThrows(LaunchException.class, () -> launch(List.of("/bin/true"), "t3", bad, null));
        assertTrue(e.getMessage().contains("writing banana to " + cpu), e.getMessage());
        assertFalse(Files.exists(cpu));
    }

    /** The supervisor writes only into the task's own cgroups, and only plain control file names. */
    @Test
    void aWriteOutsideTheTasksOwnCgroupsIsRefusedBeforeAnythingIsCreated() throws Exception {
        Path own = layout.mount(Controller.MEMORY).resolve(parent).resolve("t6");
        for (String write : List.of(own.resolveSibling("other") + "/memory.limit_in_bytes=1",
                own + "/../memory.limit_in_bytes=1", own + "/.hidden=1", own + "/memory.limit_in_bytes=")) {
            Process p = new ProcessBuilder(TestEnv.repo().resolve("target/mirage-supervisor").toString(),
                    "--run-dir", tmp.toString(), "--cgroup", own.toString(), "--cgroup-write", write, "--", "/bin/true")
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(2, p.exitValue(), write + ": " + out);
            assertTrue(out.contains("--cgroup-write"), out);
        }
        assertFalse(Files.exists(own));
    }

    /** The memory limit is the kernel's: a tender that touches more than guest memory plus overhead is OOM-killed. */
    @Test
    void aTenderAboveItsMemoryLimitIsKilled() throws Exception {
        TestEnv.require(layout.has(Controller.MEMORY), "no memory controller");
        CgroupPlan plan = plan("t4", new CgroupRequest(TenderKind.SOLO5_HVT, 100, 16, 0, "", ""));
        long over = plan.limits().memoryLimitBytes() + 32 * MIB;
        SupervisedProcess p = launch(List.of("/usr/bin/python3", "-c",
                "b = bytearray(" + over + "); print(len(b))"), "t4", plan, null);
        ExitStatus status = p.exit().get(60, TimeUnit.SECONDS);
        assertEquals(9, status.signal(), "the OOM killer ends it: " + status);
    }

    /**
     * v2 as far as a hybrid node allows: its unified hierarchy (here with no controllers enabled) at
     * /sys/fs/cgroup/unified. The same planner, tree and supervisor put the tender into
     * {@code <parent>/<task>} there, CPU time is read from its cpu.stat, and the cgroup is removed
     * after the tender ended. The limit files need controllers this node's v2 root does not offer.
     */
    @Test
    void onTheUnifiedHierarchyTheTenderJoinsItsCgroupWhichIsRemovedAfterwards() throws Exception {
        Path unified = Path.of("/sys/fs/cgroup/unified");
        TestEnv.require(Files.exists(unified.resolve("cgroup.controllers")), "no unified hierarchy at " + unified);
        CgroupLayout v2 = CgroupLayout.parse(Files.readAllLines(Path.of("/proc/self/mountinfo")), unified)
                .withV2Controllers(Files.readString(unified.resolve("cgroup.controllers")));
        assertEquals(CgroupVersion.V2, v2.version());
        CgroupTree v2Tree = new CgroupTree(v2, parent);
        Throwable failure = null;
        try {
            v2Tree.prepare();
            CgroupPlan plan = CgroupPlanner.plan(v2, parent, "t5", new CgroupRequest(TenderKind.QEMU, 500, 16, 0, "", ""));
            Path dir = unified.resolve(parent).resolve("t5");
            assertEquals(List.of(dir), plan.ownedDirs());
            SupervisedProcess p = launch(List.of("/bin/sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done;"
                    + " exec sleep 300"), "t5", plan, null);
            assertEquals("/" + parent + "/t5", membership(p.tender().pid()).get(""));
            assertEquals(List.of(Long.toString(p.tender().pid())), Files.readAllLines(dir.resolve("cgroup.procs")));
            CgroupUsage usage = CgroupUsage.read(plan.dirs()).orElseThrow();
            assertTrue(usage.cpuNanos() > 0, "cpu.stat counts the tender: " + usage);
            p.signal(9);
            p.exit().get(30, TimeUnit.SECONDS);
            assertFalse(Files.exists(dir), dir + " outlived its tender");
        } catch (Throwable t) {
            failure = t;
            throw t;
        } finally {
            // A cleanup that fails must not hide why the test failed (CI once saw only the cleanup's EBUSY).
            List<Path> left = v2Tree.removeAllBut(Set.of());
            for (Path d : v2Tree.parentDirs()) {
                try {
                    deleteWhenReleased(d);
                } catch (IOException e) {
                    IOException cleanup = new IOException(d + " not removed (left by the tree: " + left + ", inside: "
                            + Files.readString(d.resolve("cgroup.procs")).strip() + ")", e);
                    if (failure != null) {
                        failure.addSuppressed(cleanup);
                    } else {
                        throw cleanup;
                    }
                }
            }
        }
    }

    /**
     * rmdir of a cgroup whose last child was just removed: the kernel may report it busy for a moment while it
     * releases the child (no event tells when), so EBUSY is retried for up to a second, as the supervisor does.
     */
    private static void deleteWhenReleased(Path dir) throws IOException, InterruptedException {
        for (int attempt = 0; ; attempt++) {
            try {
                Files.deleteIfExists(dir);
                return;
            } catch (java.nio.file.FileSystemException e) {
                if (attempt == 100 || e.getMessage() == null || !e.getMessage().contains("busy")) {
                    throw e;
                }
                Thread.sleep(10);
            }
        }
    }

    /** hierarchy name in /proc/PID/cgroup ("cpu", "memory", ... or "" for v2) → path. */
    private static Map<String, String> membership(long pid) throws IOException {
        Map<String, String> out = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup"))) {
            String[] parts = line.split(":", 3);
            for (String name : parts[1].split(",")) {
                out.put(name, parts[2]);
            }
        }
        return out;
    }

    private String hierarchyOf(Path dir) {
        if (layout.version() == CgroupVersion.V2) {
            return "";
        }
        for (Controller c : layout.available()) {
            if (dir.startsWith(layout.mount(c))) {
                return c.kernelName();
            }
        }
        throw new IllegalArgumentException(dir.toString());
    }

    private Controller controllerOf(String hierarchy) {
        for (Controller c : Controller.values()) {
            if (c.kernelName().equals(hierarchy)) {
                return c;
            }
        }
        return Controller.CPU; // v2: one mount
    }
}
