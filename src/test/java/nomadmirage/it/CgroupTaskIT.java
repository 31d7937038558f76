package nomadmirage.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.cgroup.CgroupTree;
import nomadmirage.cgroup.CgroupVersion;
import nomadmirage.cgroup.Controller;
import nomadmirage.cgroup.TenderOverhead;
import nomadmirage.tender.TenderKind;
import nomadmirage.testing.GatedProbeRun;
import nomadmirage.testing.TaskScript;
import nomadmirage.testing.TaskScript.Result;
import nomadmirage.testing.TaskScript.Task;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Per-task cgroups through the real plugin (go-plugin client, Nomad's driver client) on this machine's
 * real hierarchies: a running task's tender is in its cgroups with the limits from its resources, the
 * stats come from them, and destroy, a failed start and a reconcile leave none behind. The driver's
 * cgroup parent is named for this test and removed afterwards.
 */
class CgroupTaskIT {
    private static final long MIB = 1024L * 1024;
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    private final CgroupLayout layout = CgroupLayout.detect();
    private final String parent = "mg-cg-task-" + UUID.randomUUID().toString().substring(0, 8);
    private final List<GatedProbeRun> runs = new ArrayList<>();
    private Path stateDir;
    private Path allocs;
    private Path gates;

    @BeforeEach
    void setUp() throws Exception {
        TestEnv.requireRoot("cgroups need root");
        TestEnv.require(layout.version() == CgroupVersion.V1, "these checks read v1 files; this node is "
                + layout.version().attribute());
        TaskScript.readable(tmp);
        stateDir = tmp.resolve("state");
        allocs = Files.createDirectory(tmp.resolve("allocs"));
        TaskScript.readable(allocs);
        gates = Files.createDirectory(tmp.resolve("gates"));
    }

    @AfterEach
    void removeEverything() throws Exception {
        for (GatedProbeRun run : runs) {
            run.close();
        }
        List<String> left = TaskScript.processesMentioning(tmp.toString());
        for (String entry : left) {
            ProcessHandle.of(Long.parseLong(entry.substring(0, entry.indexOf(':')))).ifPresent(ProcessHandle::destroyForcibly);
        }
        CgroupTree tree = new CgroupTree(layout, parent);
        List<Path> leftCgroups = tree.removeAllBut(Set.of());
        for (Path dir : tree.parentDirs()) {
            Files.deleteIfExists(dir);
        }
        assertEquals(List.of(), left, "processes left behind");
        assertEquals(List.of(), leftCgroups, "cgroups left behind");
    }

    private Map<String, Object> pluginConfig() {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("state_dir", stateDir.toString());
        config.put("solo5_hvt", TestEnv.fixtures().resolve("bin/solo5-hvt").toString());
        config.put("cgroup_parent", parent);
        config.put("reconcile_delay", "1s");
        config.put("reconcile_interval", "1s");
        config.put("log_level", "debug");
        // Uids no other plugin on this node gives out: one that did would end this test's tenders.
        int base = 300_000 + java.util.concurrent.ThreadLocalRandom.current().nextInt(6000) * 100;
        config.put("dynamic_user_min", base);
        config.put("dynamic_user_max", base + 99);
        return config;
    }

    private Path dir(Controller controller, String task) {
        return layout.mount(controller).resolve(parent).resolve(task);
    }

    private static String read(Path file) throws IOException {
        return Files.readString(file).strip();
    }

    @Test
    void aTasksTenderRunsInItsLimitedCgroupsWhichStatsReadAndDestroyRemoves() throws Exception {
        Task spin = Task.create(allocs, "spin", TestEnv.fixtures().resolve("images/standin-hello.hvt"))
                .args("--solo5:quiet", "--standin-spin").memoryMb(16).memoryMaxMb(48).cpu(500).cores("1", "");
        // A cgroup of a task no run directory names: the reconcile removes it, and only it.
        String orphan = "orphan-of-an-earlier-plugin";
        new CgroupTree(layout, parent).prepare();
        for (Controller c : List.of(Controller.CPU, Controller.MEMORY, Controller.PIDS)) {
            Files.createDirectory(dir(c, orphan));
        }
        TaskScript script = new TaskScript(pluginConfig()).launch()
                .start("start", spin)
                .gate(gates, "running", "120s")
                .stats("stats", spin, "300ms", 3)
                .destroy("destroy", spin, true);
        GatedProbeRun run = GatedProbeRun.start(script, gates, tmp, TestEnv.launcher());
        runs.add(run);
        run.awaitGate("running", WAIT);

        String name = spin.runDir(stateDir).getFileName().toString();
        String tender = Files.readAllLines(spin.runDir(stateDir).resolve("tender")).getFirst().substring("pid=".length());
        long overhead = TenderOverhead.of(TenderKind.SOLO5_HVT).memoryBytes();
        for (Controller c : List.of(Controller.CPU, Controller.CPUACCT, Controller.MEMORY, Controller.PIDS,
                Controller.CPUSET)) {
            assertEquals(List.of(tender), Files.readAllLines(dir(c, name).resolve("cgroup.procs")),
                    "the tender in its " + c.kernelName() + " cgroup");
        }
        assertEquals("500", read(dir(Controller.CPU, name).resolve("cpu.shares")));
        assertEquals(Long.toString(48 * MIB + overhead), read(dir(Controller.MEMORY, name).resolve("memory.limit_in_bytes")));
        assertEquals(Long.toString(16 * MIB + overhead),
                read(dir(Controller.MEMORY, name).resolve("memory.soft_limit_in_bytes")));
        assertEquals("16", read(dir(Controller.PIDS, name).resolve("pids.max")));
        assertEquals("1", read(dir(Controller.CPUSET, name).resolve("cpuset.cpus")));
        assertEquals("0", read(Path.of("/proc", tender, "oom_score_adj")));
        awaitGone(dir(Controller.MEMORY, orphan), "the reconcile to remove the orphan's cgroups");
        assertFalse(Files.exists(dir(Controller.CPU, orphan)));
        assertTrue(Files.isDirectory(dir(Controller.MEMORY, name)), "the reconcile kept the running task's cgroup");
        run.release("running");

        Result r = run.finish(WAIT);
        r.ok("start");
        JsonNode samples = r.ok("stats").get("samples");
        assertEquals(3, samples.size(), samples.toString());
        JsonNode last = samples.get(samples.size() - 1);
        assertTrue(last.get("memory_measured").toString().contains("Usage"), last.toString());
        assertTrue(last.get("cpu_measured").toString().contains("Throttled Periods"), last.toString());
        assertTrue(last.get("memory_usage").longValue() > 0, "the cgroup counted memory: " + last);
        assertTrue(last.get("cpu_percent").doubleValue() > 0, "the spinning tender used CPU: " + last);
        r.ok("destroy");
        for (Controller c : Controller.values()) {
            assertFalse(Files.exists(dir(c, name)), "destroy left " + dir(c, name));
        }
    }

    @Test
    void aFailedStartLeavesNoCgroup() throws Exception {
        Task bad = Task.create(allocs, "bad", TestEnv.fixtures().resolve("images/standin-hello.hvt"))
                .args("--standin-run").cpu(300);
        // The supervisor refuses a symlinked log path once the tender's cgroups exist: a late failure.
        Files.createSymbolicLink(bad.stdout, tmp.resolve("elsewhere"));
        Result r = new TaskScript(pluginConfig()).launch().start("start", bad).run(tmp);
        String error = r.error("start");
        assertTrue(error.contains("symbolic link"), error);
        String name = bad.runDir(stateDir).getFileName().toString();
        for (Controller c : Controller.values()) {
            assertFalse(Files.exists(dir(c, name)), "the failed start left " + dir(c, name));
        }
    }

    private static void awaitGone(Path dir, String what) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (Files.exists(dir)) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting for " + what + ": " + dir + " is still there");
            }
            Thread.sleep(50);
        }
    }
}
