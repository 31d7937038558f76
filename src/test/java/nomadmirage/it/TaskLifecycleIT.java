package nomadmirage.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
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
 * The task lifecycle (StartTask … DestroyTask, RecoverTask after a plugin
 * crash and an agent restart) driven through Nomad's own driver client by the
 * Go plugin-probe, with the fixture tenders: the solo5-hvt/solo5-spt stand-in
 * and the real qemu-system-x86_64 (TCG) running a real multiboot kernel.
 */
class TaskLifecycleIT {
    private static final int SIGHUP = 1;

    @TempDir
    Path tmp;

    private Path stateDir;
    private Path allocs;
    private Path images;

    @BeforeEach
    void layout() throws Exception {
        TaskScript.readable(tmp);
        stateDir = tmp.resolve("state");
        allocs = Files.createDirectory(tmp.resolve("allocs"));
        TaskScript.readable(allocs);
        images = TestEnv.fixtures().resolve("images");
    }

    @AfterEach
    void nothingLeftRunning() {
        // Every tender's and supervisor's command line names a path under tmp. Leftovers (of this
        // test's own tasks) are killed so a failure does not leak into later tests, then reported.
        List<String> left = TaskScript.processesMentioning(tmp.toString());
        for (String entry : left) {
            ProcessHandle.of(Long.parseLong(entry.substring(0, entry.indexOf(':')))).ifPresent(ProcessHandle::destroyForcibly);
        }
        assertEquals(List.of(), left, "processes left behind");
    }

    private Map<String, Object> pluginConfig(Object... extra) {
        Map<String, Object> config = new LinkedHashMap<>();
        Path bin = TestEnv.fixtures().resolve("bin");
        config.put("state_dir", stateDir.toString());
        config.put("solo5_hvt", bin.resolve("solo5-hvt").toString());
        config.put("solo5_spt", bin.resolve("solo5-spt").toString());
        config.put("qemu", qemu().toString());
        config.put("default_user", "nobody");
        config.put("log_level", "debug");
        for (int i = 0; i < extra.length; i += 2) {
            config.put((String) extra[i], extra[i + 1]);
        }
        return config;
    }

    private static Path qemu() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            Path candidate = Path.of(dir, "qemu-system-x86_64");
            if (Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        throw new AssertionError("qemu-system-x86_64 is not on the PATH");
    }

    private Task task(String name, String image) throws Exception {
        return Task.create(allocs, name, images.resolve(image));
    }

    private static int exitCode(JsonNode wait) {
        return wait.get("exit_code").intValue();
    }

    private List<Path> runDirs() throws Exception {
        Path tasks = stateDir.resolve("tasks");
        if (!Files.isDirectory(tasks)) {
            return List.of();
        }
        try (Stream<Path> dirs = Files.list(tasks)) {
            return dirs.toList();
        }
    }

    @Test
    void batchUnikernelsOnTheHvtAndSptStandInsReportTheirExitAndConsole() throws Exception {
        Task exit3 = task("exit3", "standin-hello.hvt").args("--standin-print=about-to-exit", "--standin-exit=3");
        Task abort = task("abort", "standin-hello.hvt").args("--standin-abort=boom");
        Task spt = task("spt", "standin-hello.spt");
        TaskScript script = new TaskScript(pluginConfig()).launch()
                .start("start-exit3", exit3).waitAsync("open-wait-exit3", exit3)
                .start("start-abort", abort)
                .start("start-spt", spt)
                .join("wait-exit3", "open-wait-exit3", "20s")
                .waitTask("wait-abort", abort, "20s")
                .waitTask("wait-spt", spt, "20s")
                .inspect("inspect-exit3", exit3)
                .destroy("destroy-exit3", exit3, false)
                .destroy("destroy-abort", abort, false)
                .destroy("destroy-spt", spt, false);
        Result r = script.run(tmp);

        JsonNode started = r.ok("start-exit3");
        assertTrue(started.at("/handle/config_id_set").booleanValue(), started.toString());
        assertEquals(exit3.id, started.at("/handle/config_id").textValue());
        assertEquals(exit3.id, TaskScript.driverState(started.at("/handle/driver_state")).at("/task/id").textValue(),
                "driver_state: " + started);
        assertEquals("running", started.at("/handle/state").textValue());

        JsonNode wait = r.ok("wait-exit3");
        assertEquals(3, exitCode(wait), wait.toString());
        assertEquals(0, wait.get("signal").intValue());
        assertTrue(wait.get("err").isNull(), wait.toString());
        assertTrue(exit3.stdoutText().contains("about-to-exit\n"), exit3.stdoutText());
        assertTrue(exit3.stdoutText().contains("Solo5: solo5_exit(3) called"), exit3.stdoutText());

        assertEquals(255, exitCode(r.ok("wait-abort")), r.step("wait-abort").toString());
        assertTrue(abort.stdoutText().contains("Solo5: ABORT: standin.c:1: boom"), abort.stdoutText());
        // Crash context: the end of the console in a task event, so `nomad alloc status` shows it.
        assertTrue(r.events(0, abort).stream().anyMatch(e -> e.startsWith("Last console lines: ")
                && e.contains("Solo5: ABORT: standin.c:1: boom")), r.events(0, abort).toString());
        assertFalse(r.events(0, spt).stream().anyMatch(e -> e.startsWith("Last console lines: ")),
                "a successful exit carries no crash context: " + r.events(0, spt));

        JsonNode sptWait = r.ok("wait-spt");
        assertEquals(0, exitCode(sptWait), sptWait.toString());
        assertEquals(0, sptWait.get("signal").intValue());
        assertTrue(spt.stdoutText().contains("Hello from a stand-in spt unikernel"), spt.stdoutText());

        JsonNode inspect = r.ok("inspect-exit3");
        assertEquals("exited", inspect.get("state").textValue(), inspect.toString());
        assertEquals(3, inspect.at("/exit_result/exit_code").intValue(), inspect.toString());
        assertFalse(inspect.get("completed_at").isNull(), inspect.toString());
        assertEquals("solo5-hvt", inspect.at("/driver_attributes/tender").textValue());

        for (String destroy : List.of("destroy-exit3", "destroy-abort", "destroy-spt")) {
            r.ok(destroy);
        }
        List<String> events = r.events(0, exit3);
        assertTrue(events.stream().anyMatch(e -> e.startsWith("Started solo5-hvt")), events.toString());
        assertTrue(events.stream().anyMatch(e -> e.contains("exited with status 3")), events.toString());
        assertEquals(List.of(), runDirs(), "destroy must remove the run directories");
    }

    @Test
    void aVirtioUnikernelRunsUnderQemuWithTcgAndItsGuestExitMeansSuccess() throws Exception {
        Task virtio = task("virtio", "virtio-hello.virtio").args("alpha", "beta", "gamma")
                .config("qemu", List.of(Map.of("args", List.of("-smp", "2"))));
        Result r = new TaskScript(pluginConfig("qemu_allowed_args", Map.of("-smp", "[0-9]{1,3}"))).launch()
                .start("start", virtio)
                .waitTask("wait", virtio, "60s")
                .inspect("inspect", virtio)
                .destroy("destroy", virtio, false)
                .run(tmp);

        r.ok("start");
        JsonNode wait = r.ok("wait");
        assertEquals(0, exitCode(wait), wait.toString());
        assertEquals(0, wait.get("signal").intValue(), wait.toString());
        assertTrue(wait.get("err").isNull(), wait.toString());
        String console = virtio.stdoutText();
        assertTrue(console.contains("Hello from a virtio unikernel"), console);
        assertTrue(console.contains("cmdline: alpha beta gamma"), console);

        JsonNode inspect = r.ok("inspect");
        assertEquals("qemu", inspect.at("/driver_attributes/tender").textValue(), inspect.toString());
        String argv = inspect.at("/driver_attributes/argv").textValue();
        assertTrue(argv.contains("-accel tcg"), argv);
        assertTrue(argv.contains("-append alpha beta gamma"), argv);
        assertTrue(argv.contains(" -smp 2 -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny "),
                "qemu ran the guest under its seccomp sandbox: " + argv);
        r.ok("destroy");
    }

    @Test
    void aLongRunningHvtTaskIsInspectedMeasuredSignalledStoppedAndDestroyed() throws Exception {
        Task run = task("run", "standin-hello.hvt").args("--standin-print=serving", "--standin-run");
        Task usr1 = task("usr1", "standin-hello.hvt").args("--standin-run");
        Task sptRun = task("sptrun", "standin-hello.spt").args("--standin-run");
        Result r = new TaskScript(pluginConfig()).launch()
                .start("start", run).waitAsync("open-wait", run)
                .start("start-usr1", usr1)
                .start("start-spt", sptRun)
                .inspect("inspect", run)
                .step("proc", "proc-run", "task_id", run.id)
                .step("proc", "proc-spt", "task_id", sptRun.id)
                .stats("stats", run, "200ms", 3)
                .destroy("destroy-running", usr1, false)
                .signal("signal-usr1", usr1, "SIGUSR1")
                .inspect("inspect-usr1", usr1)
                .signal("signal-hup", usr1, "SIGHUP")
                .waitTask("wait-hup", usr1, "20s")
                .signal("signal-exited", usr1, "SIGUSR1")
                .stop("stop", run, "5s", "")
                .join("wait", "open-wait", "20s")
                .inspect("inspect-after", run)
                .stop("stop-again", run, "5s", "")
                .destroy("destroy", run, false)
                .destroy("destroy-again", run, false)
                .inspect("inspect-destroyed", run)
                .destroy("destroy-usr1", usr1, true)
                .stop("stop-spt", sptRun, "5s", "SIGTERM")
                .waitTask("wait-spt", sptRun, "20s")
                .destroy("destroy-spt", sptRun, false)
                .run(tmp);

        r.ok("start");
        JsonNode inspect = r.ok("inspect");
        assertEquals("running", inspect.get("state").textValue(), inspect.toString());
        long pid = Long.parseLong(inspect.at("/driver_attributes/pid").textValue());
        assertTrue(pid > 1, inspect.toString());
        assertEquals("solo5-hvt", inspect.at("/driver_attributes/tender").textValue());
        assertTrue(inspect.get("completed_at").isNull(), "a running task has no completion time: " + inspect);
        assertEquals(0, inspect.at("/exit_result/exit_code").intValue(), "no exit yet: " + inspect);

        // The plugin runs as root; tenders run as default_user "nobody", never with the root group.
        for (String proc : List.of("proc-run", "proc-spt")) {
            JsonNode creds = r.ok(proc);
            for (String id : List.of("uid", "gid")) {
                for (JsonNode n : creds.get(id)) {
                    assertEquals("65534", n.textValue(), proc + ": " + creds);
                }
            }
            for (JsonNode g : creds.get("groups")) {
                assertNotEquals("0", g.textValue(), proc + ": supplementary group root: " + creds);
            }
        }

        JsonNode stats = r.ok("stats");
        List<JsonNode> complete = new ArrayList<>();
        for (JsonNode sample : stats.get("samples")) {
            if (sample.get("complete").booleanValue() && sample.get("rss").longValue() > 0) {
                complete.add(sample);
            }
        }
        assertTrue(complete.size() >= 2, "want >= 2 complete samples with rss > 0: " + stats);
        JsonNode last = complete.getLast();
        assertTrue(last.get("memory_measured").toString().contains("RSS"), last.toString());
        assertTrue(last.get("cpu_measured").toString().contains("Percent"), last.toString());
        assertTrue(last.get("pids").toString().contains(Long.toString(pid)), last.toString());
        assertTrue(complete.get(1).get("timestamp_ns").longValue() > complete.get(0).get("timestamp_ns").longValue(),
                stats.toString());

        assertTrue(r.error("destroy-running").contains("running"), "destroy without force of a running task");
        // The stand-in (a Go program) ignores SIGUSR1, so the signal is delivered and the task runs on;
        // SIGHUP kills it (no handler), which must be reported as a signal death.
        r.ok("signal-usr1");
        assertEquals("running", r.ok("inspect-usr1").get("state").textValue());
        r.ok("signal-hup");
        JsonNode hupWait = r.ok("wait-hup");
        assertEquals(SIGHUP, hupWait.get("signal").intValue(), hupWait.toString());
        assertEquals(128 + SIGHUP, exitCode(hupWait), hupWait.toString());
        assertTrue(r.error("signal-exited").contains("already exited"), r.step("signal-exited").toString());
        List<String> usr1Events = r.events(0, usr1);
        assertTrue(usr1Events.contains("Sent SIGUSR1 to the tender"), usr1Events.toString());
        assertTrue(usr1Events.contains("Sent SIGHUP to the tender"), usr1Events.toString());
        assertTrue(usr1Events.stream().anyMatch(e -> e.contains("killed by signal 1")), usr1Events.toString());

        r.ok("stop");
        assertFalse(r.events(0, run).stream().anyMatch(e -> e.contains("killing the tender")),
                "SIGTERM should end hvt before the kill timeout: " + r.events(0, run));
        JsonNode wait = r.ok("wait");
        assertEquals(1, exitCode(wait), "hvt exits 1 on SIGTERM: " + wait);
        assertEquals(0, wait.get("signal").intValue(), wait.toString());
        assertTrue(run.stderrText().contains("solo5-hvt: Exiting on signal 15"), run.stderrText());
        assertTrue(run.stdoutText().contains("serving"), run.stdoutText());
        assertEquals("exited", r.ok("inspect-after").get("state").textValue());

        r.ok("stop-again");
        r.ok("destroy");
        // Nomad's ErrTaskNotFound, as its built-in drivers answer, for every call on a destroyed task.
        assertTrue(r.error("destroy-again").contains("code = NotFound desc = task not found for given id"),
                r.step("destroy-again").toString());
        assertTrue(r.error("inspect-destroyed").contains("code = NotFound desc = task not found for given id"),
                r.step("inspect-destroyed").toString());
        r.ok("destroy-usr1");

        // spt installs no handler: SIGTERM kills it, reported as Nomad's executor reports it.
        r.ok("stop-spt");
        JsonNode sptWait = r.ok("wait-spt");
        assertEquals(15, sptWait.get("signal").intValue(), sptWait.toString());
        assertEquals(128 + 15, exitCode(sptWait), sptWait.toString());
        r.ok("destroy-spt");
        assertEquals(List.of(), runDirs());
    }

    @Test
    void stoppingAQemuGuestSendsTheKillSignalAtOnce() throws Exception {
        Task hang = task("hang", "virtio-hello.virtio").args("--hang");
        Result r = new TaskScript(pluginConfig()).launch()
                .start("start", hang).waitAsync("open-wait", hang)
                // The guest printed: qemu is up.
                .awaitFile("booted", hang.stdout, "Hello from a virtio unikernel", "30s")
                .inspect("inspect", hang)
                .stop("stop", hang, "4s", "SIGTERM")
                .join("wait", "open-wait", "30s")
                .destroy("destroy", hang, false)
                .run(tmp);

        r.ok("start");
        r.ok("booted");
        JsonNode inspect = r.ok("inspect");
        assertEquals("running", inspect.get("state").textValue(), inspect.toString());
        String argv = inspect.at("/driver_attributes/argv").textValue();
        // Solo5 guests cannot act on a power button (acpi=off): no QMP socket, no power-down attempt.
        assertFalse(argv.contains("-qmp"), argv);

        r.ok("stop");
        JsonNode wait = r.ok("wait");
        assertEquals(0, wait.get("signal").intValue(), wait.toString());
        List<String> events = r.events(0, hang);
        assertFalse(events.stream().anyMatch(e -> e.toLowerCase(java.util.Locale.ROOT).contains("power down")),
                events.toString());
        // SIGTERM ended qemu before the 4 s timeout: the driver never had to escalate to SIGKILL.
        assertFalse(events.stream().anyMatch(e -> e.contains("killing the tender")), events.toString());
        assertTrue(events.stream().anyMatch(e -> e.contains("qemu exited with status 0")), events.toString());
        r.ok("destroy");
        assertFalse(Files.exists(hang.taskDir.resolve(".mirage")), "nothing of the driver's in the task directory");
    }

    /**
     * Nomad retries StartTask with the same task id after the plugin died during the first attempt
     * (taskrunner: ErrPluginShutdown → initDriver → StartTask again). Nothing of that attempt was
     * reported to Nomad: the retry must succeed and leave exactly one tender, the new one.
     */
    @Test
    void aStartRetriedAfterThePluginDiedReplacesWhatTheCutShortStartLeft() throws Exception {
        Task serve = task("serve", "standin-hello.hvt").args("--standin-print=serving", "--standin-run");
        Result r = new TaskScript(pluginConfig()).launch()
                .start("start-1", serve)
                .inspect("inspect-1", serve)
                .killPlugin("crash")
                .launch()
                .start("start-2", serve)
                .inspect("inspect-2", serve)
                .destroy("destroy", serve, true)
                .run(tmp);

        r.ok("start-1");
        long first = Long.parseLong(r.ok("inspect-1").at("/driver_attributes/pid").textValue());
        JsonNode retried = r.ok("start-2");
        assertEquals("running", retried.at("/handle/state").textValue(), retried.toString());
        long second = Long.parseLong(r.ok("inspect-2").at("/driver_attributes/pid").textValue());
        assertNotEquals(first, second, "the retry must start its own tender");
        assertFalse(ProcessHandle.of(first).map(ProcessHandle::isAlive).orElse(false),
                "the cut-short start's tender " + first + " still runs");
        assertTrue(r.events(1, serve).stream().anyMatch(e -> e.contains("earlier start of this task")),
                r.events(1, serve).toString());
        r.ok("destroy");
        assertEquals(List.of(), runDirs());
    }

    /**
     * Tasks Nomad no longer holds after a plugin restart — an ended one whose DestroyTask was lost and a
     * running one whose handle was never recovered — are cleaned up by the periodic reconcile: the
     * orphaned tender is stopped and both run directories removed.
     */
    @Test
    void reconcileStopsOrphanedTendersAndRemovesRunDirectoriesOfLostDestroys() throws Exception {
        Path gates = Files.createDirectory(tmp.resolve("gates"));
        Task ended = task("ended", "standin-hello.hvt").args("--standin-print=done");
        Task orphan = task("orphan", "standin-hello.hvt").args("--standin-run");
        TaskScript script = new TaskScript(pluginConfig("reconcile_delay", "1s", "reconcile_interval", "1s")).launch()
                .start("start-ended", ended)
                .start("start-orphan", orphan)
                .inspect("inspect-orphan", orphan)
                .waitTask("wait-ended", ended, "20s")
                .killPlugin("crash")
                .launch()
                .gate(gates, "relaunched", "60s")
                .noCleanup();
        List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (GatedProbeRun run = GatedProbeRun.start(script, gates, tmp, TestEnv.launcher())) {
            run.awaitGate("relaunched", java.time.Duration.ofSeconds(60));
            long deadline = System.nanoTime() + java.time.Duration.ofSeconds(30).toNanos();
            while (!runDirs().isEmpty()) {
                assertTrue(System.nanoTime() < deadline, "run directories still there: " + runDirs() + "\n"
                        + run.logTail(40));
                Thread.sleep(100);
            }
            run.release("relaunched");
            Result r = run.finish(java.time.Duration.ofSeconds(60));
            long pid = Long.parseLong(r.ok("inspect-orphan").at("/driver_attributes/pid").textValue());
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "orphaned tender " + pid + " runs");
            log.addAll(run.log());
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("stopped an orphaned tender")), String.join("\n", log));
        assertTrue(log.stream().anyMatch(l -> l.contains("removed an orphaned run directory") && l.contains("ended")),
                String.join("\n", log));
    }

    /**
     * Issue 9 item 6: with one shared tender user ("nobody"), any process of that uid — another job's
     * tender, escaped — could read and write every task's block files, signal every tender and read
     * their environments. Tasks that name no user now run as uids of their own: from task B's uid,
     * task A's block file cannot be opened, A's tender cannot be signalled nor its /proc read.
     */
    @Test
    void tasksWithUidsOfTheirOwnCannotReachEachOthersFilesOrTenders() throws Exception {
        Path gates = Files.createDirectory(tmp.resolve("gates"));
        List<Task> tasks = List.of(
                task("own-a", "standin-hello-block.hvt").args("--standin-run").config("block",
                        List.of(Map.of("name", "storage", "path", "local/disk.img", "size", "1MiB"))),
                task("own-b", "standin-hello-block.hvt").args("--standin-run").config("block",
                        List.of(Map.of("name", "storage", "path", "local/disk.img", "size", "1MiB"))));
        TaskScript script = new TaskScript(pluginConfig("default_user", "")).launch()
                .start("start-a", tasks.get(0))
                .start("start-b", tasks.get(1))
                .inspect("inspect-a", tasks.get(0))
                .gate(gates, "both-running", "60s")
                .destroy("destroy-a", tasks.get(0), true)
                .destroy("destroy-b", tasks.get(1), true);
        try (GatedProbeRun run = GatedProbeRun.start(script, gates, tmp, TestEnv.launcher())) {
            run.awaitGate("both-running", java.time.Duration.ofSeconds(60));
            int[] uids = new int[2];
            for (int i = 0; i < 2; i++) {
                Path runDir = tasks.get(i).runDir(stateDir);
                uids[i] = Integer.parseInt(Files.readString(runDir.resolve("own-uid")).strip());
                assertTrue(uids[i] >= 80000 && uids[i] <= 89999, "own uid " + uids[i]);
                Path disk = tasks.get(i).taskDir.resolve("local/disk.img");
                assertEquals(uids[i], Files.getAttribute(disk, "unix:uid"), "block file owner");
                assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                        Files.getPosixFilePermissions(disk)), "block file mode");
            }
            assertNotEquals(uids[0], uids[1], "two tasks share a uid");
            String tenderA = Files.readAllLines(tasks.get(0).runDir(stateDir).resolve("tender")).stream()
                    .filter(l -> l.startsWith("pid=")).findFirst().orElseThrow().substring(4);
            String diskA = tasks.get(0).taskDir.resolve("local/disk.img").toString();
            // As task B's uid: each attempt must fail with "Permission denied" / "Operation not permitted".
            String attack = "(exec 3<>" + quoteShell(diskA) + ") && echo OPENED-BLOCK; "
                    + "kill -0 " + tenderA + " && echo SIGNALLED; "
                    + "cat /proc/" + tenderA + "/environ >/dev/null && echo READ-ENVIRON; "
                    + "echo attack-done";
            Process p = new ProcessBuilder("setpriv", "--reuid=" + uids[1], "--regid=" + uids[1], "--clear-groups",
                    "sh", "-c", attack).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(out.contains("attack-done"), out);
            assertFalse(out.contains("OPENED-BLOCK") || out.contains("SIGNALLED") || out.contains("READ-ENVIRON"),
                    "task B's uid reached task A: " + out);
            run.release("both-running");
            Result r = run.finish(java.time.Duration.ofSeconds(60));
            r.ok("destroy-a");
            r.ok("destroy-b");
        }
    }

    private static String quoteShell(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    /**
     * Under qemu the guest's own status is lost (Solo5's virtio exit always makes qemu exit 83), so it
     * is read from the console. The fixture kernel echoes its command line, which here carries the
     * lines Solo5 prints on exit and abort.
     */
    @Test
    void aVirtioGuestsExitStatusIsReadFromItsConsole() throws Exception {
        Task exit7 = task("exit7", "virtio-hello.virtio").args("Solo5:", "solo5_exit(7)", "called");
        Task aborted = task("aborted", "virtio-hello.virtio").args("Solo5:", "ABORT:", "cpu_x86_64.c:182:", "Fatal", "trap");
        Task quiet = task("quiet", "virtio-hello.virtio").args("--solo5:quiet");
        Result r = new TaskScript(pluginConfig()).launch()
                .start("start-exit7", exit7).start("start-aborted", aborted).start("start-quiet", quiet)
                .waitTask("wait-exit7", exit7, "60s")
                .waitTask("wait-aborted", aborted, "60s")
                .waitTask("wait-quiet", quiet, "60s")
                .destroy("destroy-exit7", exit7, false)
                .destroy("destroy-aborted", aborted, false)
                .destroy("destroy-quiet", quiet, false)
                .run(tmp);

        assertEquals(7, exitCode(r.ok("wait-exit7")), r.step("wait-exit7").toString());
        assertEquals(255, exitCode(r.ok("wait-aborted")), r.step("wait-aborted").toString());
        assertTrue(r.events(0, aborted).stream().anyMatch(e -> e.startsWith("Last console lines: ")
                && e.contains("Fatal trap")), r.events(0, aborted).toString());
        JsonNode quietWait = r.ok("wait-quiet");
        assertEquals(0, exitCode(quietWait), quietWait.toString());
        assertTrue(r.events(0, quiet).stream().anyMatch(e -> e.contains("status was not printed")),
                r.events(0, quiet).toString());
        assertEquals(List.of(), runDirs());
    }

    @Test
    void badConfigsFailToStartNonRecoverablyNamingTheFieldAndLeaveNothingBehind() throws Exception {
        Path outside = Files.createDirectory(tmp.resolve("outside"));
        TaskScript.readable(outside);
        Path stray = outside.resolve("standin-hello.hvt");
        Files.copy(images.resolve("standin-hello.hvt"), stray);
        TaskScript.readable(stray);
        Path allowedImages = Files.createDirectory(tmp.resolve("images"));

        Map<String, Task> bad = new LinkedHashMap<>();
        Map<String, String> field = new LinkedHashMap<>();
        bad.put("missing", task("missing", "standin-hello.hvt").config("unikernel", "local/nope.hvt"));
        field.put("missing", "unikernel: \"local/nope.hvt\" does not exist");
        bad.put("tender", task("tender", "standin-hello.hvt").config("tender", "solo5-spt"));
        field.put("tender", "tender: \"solo5-spt\"");
        bad.put("noblock", task("noblock", "standin-hello-block.hvt"));
        field.put("noblock", "block: ");
        bad.put("blockname", task("blockname", "standin-hello-block.hvt").config("block",
                List.of(Map.of("name", "nope", "path", "local/unknown.img", "size", "1MiB"))));
        field.put("blockname", "block[0].name: \"nope\"");
        bad.put("readonly", task("readonly", "standin-hello-block.hvt").config("block",
                List.of(Map.of("name", "storage", "path", "local/ro.img", "size", "1MiB", "read_only", true))));
        field.put("readonly", "block[0].read_only");
        bad.put("qemuargs", task("qemuargs", "virtio-hello.virtio").config("qemu",
                List.of(Map.of("args", List.of("-monitor", "stdio")))));
        field.put("qemuargs", "qemu.args[0]: \"-monitor\" is not allowed");
        // qemu opens a bare word as a disk image: only allowed options and values matching their pattern pass.
        bad.put("bareword", task("bareword", "virtio-hello.virtio").config("qemu",
                List.of(Map.of("args", List.of("-smp", "2", "/etc/shadow")))));
        field.put("bareword", "qemu.args[2]: \"/etc/shadow\" is not an option");
        bad.put("qemuvalue", task("qemuvalue", "virtio-hello.virtio").config("qemu",
                List.of(Map.of("args", List.of("-smp", "2,maxcpus=255")))));
        field.put("qemuvalue", "qemu.args[1]: \"2,maxcpus=255\" is not an allowed value for -smp");
        bad.put("bigblock", task("bigblock", "standin-hello-block.hvt").config("block",
                List.of(Map.of("name", "storage", "path", "local/big.img", "size", "32GiB"))));
        field.put("bigblock", "block[0].size: 34359738368 bytes (32GiB) is more than");
        bad.put("absolute", task("absolute", "standin-hello.hvt").config("unikernel", stray.toString()));
        field.put("absolute", "unikernel: \"" + stray + "\" resolves to");
        bad.put("dotdot", task("dotdot", "standin-hello.hvt").config("unikernel", "../../../outside/standin-hello.hvt"));
        field.put("dotdot", "unikernel: \"../../../outside/standin-hello.hvt\" resolves to");
        Task symlink = task("symlink", "standin-hello.hvt");
        Files.createSymbolicLink(symlink.taskDir.resolve("local/link.hvt"), stray);
        bad.put("symlink", symlink.config("unikernel", "local/link.hvt"));
        field.put("symlink", "unikernel: \"local/link.hvt\" resolves to " + stray.toRealPath());

        // The plugin runs as root: a job may not have its tender run as root (by name, uid or uid:gid).
        bad.put("root", task("root", "standin-hello.hvt").user("root"));
        field.put("root", "user: \"root\"");
        bad.put("uid0", task("uid0", "standin-hello.hvt").user("0:65534"));
        field.put("uid0", "user: \"0:65534\"");
        bad.put("gid0", task("gid0", "standin-hello.hvt").user("65534:0"));
        field.put("gid0", "user: \"65534:0\"");

        TaskScript script = new TaskScript(pluginConfig("image_paths", List.of(allowedImages.toString()),
                "qemu_allowed_args", Map.of("-smp", "[0-9]{1,3}"))).launch();
        bad.forEach((label, t) -> script.start(label, t));
        Task good = task("good", "standin-hello.hvt");
        script.start("good", good).waitTask("good-wait", good, "20s").destroy("good-destroy", good, false);
        Result r = script.run(tmp);

        for (var entry : bad.entrySet()) {
            JsonNode step = r.step(entry.getKey());
            String error = r.error(entry.getKey());
            assertTrue(error.contains(field.get(entry.getKey())), entry.getKey() + ": " + error);
            assertTrue(step.get("recoverable_error").booleanValue(), "the plugin must say whether: " + step);
            assertFalse(step.get("recoverable").booleanValue(), "a config error cannot be retried: " + step);
            assertTrue(step.get("decode_error").isNull(), step.toString());
        }
        assertTrue(r.error("absolute").contains("image_paths"), r.error("absolute"));
        assertFalse(Files.exists(bad.get("blockname").taskDir.resolve("local/unknown.img")));
        assertFalse(Files.exists(bad.get("readonly").taskDir.resolve("local/ro.img")));
        assertFalse(Files.exists(bad.get("bigblock").taskDir.resolve("local/big.img")));
        // The same plugin still starts a good task; only its run dir existed, and destroy removed it.
        assertEquals(0, exitCode(r.ok("good-wait")));
        r.ok("good-destroy");
        assertEquals(List.of(), runDirs(), "a failed start must not leave its run directory");
        assertEquals(List.of(), r.out.get("cleanup").findValuesAsText("task_id"), "no task was left to clean up");
    }

    @Test
    void aBlockDeviceFileIsCreatedAtItsSizeAndAttached() throws Exception {
        Task block = task("block", "standin-hello-block.hvt").config("block",
                List.of(Map.of("name", "storage", "path", "local/disk.img", "size", "1MiB")));
        Result r = new TaskScript(pluginConfig()).launch()
                .start("start", block)
                .waitTask("wait", block, "20s")
                .inspect("inspect", block)
                .destroy("destroy", block, false)
                .run(tmp);

        r.ok("start");
        assertEquals(0, exitCode(r.ok("wait")), r.step("wait").toString());
        Path disk = block.taskDir.resolve("local/disk.img").toRealPath();
        assertEquals(1L << 20, Files.size(disk));
        assertEquals(65534, Files.getAttribute(disk, "unix:uid"), "the block file belongs to the task user");
        String argv = r.ok("inspect").at("/driver_attributes/argv").textValue();
        assertTrue(argv.contains("--block:storage=" + disk + " "), argv);
        assertEquals("storage:BLOCK_BASIC", r.ok("inspect").at("/driver_attributes/devices").textValue());
        assertTrue(block.stdoutText().contains("standin: block storage: 1048576 bytes, sector size 512"),
                block.stdoutText());
        r.ok("destroy");
        assertTrue(Files.exists(disk), "the block file is the task's data; destroy keeps it");
    }

    @Test
    void tasksSurviveAPluginCrashAndAreRecoveredFromDriverStateAlone() throws Exception {
        Task run = task("run", "standin-hello.hvt").args("--standin-run");
        // The brief task ends when the script releases it, after the plugin was killed.
        Path release = tmp.resolve("release-brief");
        Task brief = task("brief", "standin-hello.hvt")
                .args("--standin-await=" + release, "--standin-print=done", "--standin-exit=5");
        Result r = new TaskScript(pluginConfig()).launch()
                .start("start-run", run)
                .start("start-brief", brief).waitAsync("old-wait", brief)
                .inspect("inspect-run-before", run)
                .inspect("inspect-brief-before", brief)
                .killPlugin("kill")
                .join("old-wait-result", "old-wait", "20s")
                // The brief task finishes while no plugin runs; its supervisor records the status.
                .touch("release-brief", release)
                .awaitFile("brief-done", brief.stdout, "done", "20s")
                .awaitFile("brief-status", brief.runDir(stateDir).resolve("status"), "exit_code=", "20s")
                .launch()
                .recover("recover-run", run, true)
                .recover("recover-brief", brief, true)
                .waitTask("wait-brief", brief, "20s")
                .inspect("inspect-run-after", run)
                .inspect("inspect-brief-after", brief)
                .recover("recover-run-again", run, true)
                .stop("stop-run", run, "5s", "")
                .waitTask("wait-run", run, "20s")
                .destroy("destroy-run", run, false)
                .destroy("destroy-brief", brief, false)
                .run(tmp);

        r.ok("start-run");
        r.ok("start-brief");
        assertEquals("running", r.ok("inspect-brief-before").get("state").textValue(),
                "the brief task must still run when the plugin dies");
        String runPid = r.ok("inspect-run-before").at("/driver_attributes/pid").textValue();
        JsonNode kill = r.ok("kill");
        assertTrue(kill.get("exited").booleanValue(), kill.toString());
        JsonNode oldWait = r.step("old-wait-result");
        assertFalse(oldWait.get("err").isNull(), "a WaitTask open on the dead plugin must fail: " + oldWait);
        r.ok("release-brief");
        r.ok("brief-done");
        r.ok("brief-status");

        assertEquals(1, r.step("recover-run").get("plugin").intValue(), "recovered on the new instance");
        for (String recover : List.of("recover-run", "recover-brief")) {
            JsonNode step = r.ok(recover);
            assertTrue(step.get("stripped").booleanValue());
            assertEquals(0, step.get("raw_driver_config_len").intValue(), "as after an agent restart: " + step);
        }
        JsonNode briefWait = r.ok("wait-brief");
        assertEquals(5, exitCode(briefWait), briefWait.toString());
        assertTrue(briefWait.get("err").isNull(), briefWait.toString());
        assertEquals("exited", r.ok("inspect-brief-after").get("state").textValue());

        JsonNode runAfter = r.ok("inspect-run-after");
        assertEquals("running", runAfter.get("state").textValue(), runAfter.toString());
        assertEquals(runPid, runAfter.at("/driver_attributes/pid").textValue(), "the same tender, not a new one");
        assertEquals(run.id, runAfter.get("id").textValue());

        r.ok("recover-run-again");
        r.ok("stop-run");
        JsonNode runWait = r.ok("wait-run");
        assertEquals(1, exitCode(runWait), runWait.toString());
        r.ok("destroy-run");
        r.ok("destroy-brief");

        List<String> recovered = r.events(1, brief);
        assertTrue(recovered.stream().anyMatch(e -> e.startsWith("Recovered after a plugin restart")
                && e.contains("already exited")), recovered.toString());
        List<String> runEvents = r.events(1, run);
        assertTrue(runEvents.stream().anyMatch(e -> e.startsWith("Recovered after a plugin restart")
                && e.contains("running")), runEvents.toString());
        assertNotEquals(r.plugin(0).get("pid"), r.plugin(1).get("pid"));
        assertEquals(List.of(), runDirs());
    }

    /**
     * What Nomad hands back in a handle is untrusted: a RecoverTask whose driver state was forged from
     * what the plugin recorded, modified, signed with a bad MAC or replayed from another task is refused
     * and touches nothing — the victim stays unknown to the plugin (every call on it answers NOT_FOUND),
     * its tender keeps running and its run directory is unchanged; the genuine handle still recovers it.
     */
    @Test
    void aForgedModifiedOrReplayedDriverStateRecoversNothingAndTouchesNothing() throws Exception {
        Path gates = Files.createDirectory(tmp.resolve("gates"));
        Path crafted = Files.createDirectory(tmp.resolve("crafted"));
        Task victim = task("victim", "standin-hello.hvt").args("--standin-run");
        Task attacker = task("attacker", "standin-hello.hvt").args("--standin-run");
        Path genuine = crafted.resolve("genuine");
        TaskScript script = new TaskScript(pluginConfig()).launch()
                .start("start-victim", victim)
                .start("start-attacker", attacker)
                .inspect("inspect-victim", victim)
                .saveHandle("save-victim", victim, genuine)
                .killPlugin("crash")
                .launch()
                .recover("recover-attacker", attacker, true)
                .gate(gates, "craft", "60s")
                .recoverCrafted("forged", victim, attacker, crafted.resolve("forged"))
                .recoverCrafted("modified", victim, victim, crafted.resolve("modified"))
                .recoverCrafted("bad-mac", victim, victim, crafted.resolve("bad-mac"))
                .recoverCrafted("unsigned", victim, victim, crafted.resolve("unsigned"))
                .recoverCrafted("replayed", victim, attacker, null)
                // The victim's genuine handle under the id of a task the plugin already tracks.
                .recoverCrafted("replayed-onto-tracked", attacker, victim, null)
                .signal("signal-victim", victim, "SIGUSR1")
                .stop("stop-victim", victim, "1s", "SIGKILL")
                .destroy("destroy-victim", victim, true)
                .inspect("inspect-unknown", victim)
                .gate(gates, "untouched", "60s")
                .recover("recover-victim", victim, true)
                .inspect("inspect-victim-after", victim)
                .destroy("destroy-victim-genuine", victim, true)
                .destroy("destroy-attacker", attacker, true);
        Map<String, String> runDirBefore;
        long victimPid;
        Result r;
        try (GatedProbeRun run = GatedProbeRun.start(script, gates, tmp, TestEnv.launcher())) {
            run.awaitGate("craft", java.time.Duration.ofSeconds(60));
            Path runDir = victim.runDir(stateDir);
            runDirBefore = snapshot(runDir);
            ObjectMapper json = new ObjectMapper();
            JsonNode recorded = json.readTree(runDir.resolve("task.json").toFile()).get("driver_state");
            // Forged: exactly what the plugin recorded for the victim, without its seal.
            Files.write(crafted.resolve("forged"), json.writeValueAsBytes(recorded));
            JsonNode handle = json.readTree(genuine.toFile());
            boolean sealed = handle.path("state").isTextual();
            ObjectNode state = (ObjectNode) TaskScript.driverState(handle).deepCopy();
            ((ObjectNode) state.get("network")).putArray("devices").addObject()
                    .put("device", "service").put("tap", "eth0").put("mac", "00:80:41:00:00:01")
                    .put("ip", "10.99.0.2").put("prefix_length", 16).put("gateway", "10.99.0.1").putArray("forwards");
            ObjectNode modified = sealed ? handle.deepCopy() : state;
            if (sealed) {
                modified.put("state", json.writeValueAsString(state));
            }
            Files.write(crafted.resolve("modified"), json.writeValueAsBytes(modified));
            ObjectNode badMac = handle.deepCopy();
            String mac = badMac.path("mac").asText("00");
            badMac.put("mac", mac.substring(0, mac.length() - 1) + (mac.endsWith("0") ? "1" : "0"));
            Files.write(crafted.resolve("bad-mac"), json.writeValueAsBytes(badMac));
            ObjectNode unsigned = handle.deepCopy();
            unsigned.remove("mac");
            Files.write(crafted.resolve("unsigned"), json.writeValueAsBytes(unsigned));
            run.release("craft");

            run.awaitGate("untouched", java.time.Duration.ofSeconds(60));
            assertEquals(runDirBefore, snapshot(runDir), "the victim's run directory must be untouched");
            run.release("untouched");
            r = run.finish(java.time.Duration.ofSeconds(120));
        }
        r.ok("start-victim");
        victimPid = Long.parseLong(r.ok("inspect-victim").at("/driver_attributes/pid").textValue());
        r.ok("recover-attacker");
        for (String label : List.of("forged", "modified", "bad-mac", "unsigned", "replayed", "replayed-onto-tracked")) {
            String error = r.error(label);
            assertTrue(error.contains("code = InvalidArgument"), label + ": " + error);
            assertTrue(error.contains("the task handle's driver state failed authentication"), label + ": " + error);
            assertTrue(r.step(label).get("crafted").booleanValue(), r.step(label).toString());
        }
        for (String label : List.of("signal-victim", "stop-victim", "destroy-victim", "inspect-unknown")) {
            assertTrue(r.error(label).contains("code = NotFound desc = task not found for given id"),
                    label + ": " + r.step(label));
        }
        // The genuine handle still recovers the same, untouched tender.
        r.ok("recover-victim");
        JsonNode after = r.ok("inspect-victim-after");
        assertEquals("running", after.get("state").textValue(), after.toString());
        assertEquals(Long.toString(victimPid), after.at("/driver_attributes/pid").textValue());
        assertFalse(r.events(1, victim).stream().anyMatch(e -> e.startsWith("Sent")), r.events(1, victim).toString());
        r.ok("destroy-victim-genuine");
        r.ok("destroy-attacker");
        assertEquals(List.of(), runDirs());
    }

    /** Name → size and digest of every file in a directory (no subdirectories are expected). */
    private static Map<String, String> snapshot(Path dir) throws Exception {
        Map<String, String> out = new java.util.TreeMap<>();
        if (!Files.isDirectory(dir)) {
            out.put("(run directory " + dir + " is gone)", "");
            return out;
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                out.put(f.getFileName().toString(), Files.isRegularFile(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                        ? Files.size(f) + " bytes, sha256 " + java.util.HexFormat.of().formatHex(
                                java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)))
                        : "(not a regular file)");
            }
        }
        return out;
    }

    /**
     * The job's environment (env {}, templates, Vault and Nomad tokens) never reaches the root supervisor
     * or the tender: a job's LD_PRELOAD used to run its library inside qemu, and any process of the task
     * user could read the secrets from /proc/PID/environ. The tender gets a fixed PATH and nothing else.
     */
    @Test
    void theTenderGetsAFixedEnvironmentNeverTheJobs() throws Exception {
        Path lib = Files.createDirectory(tmp.resolve("lib"));
        TaskScript.readable(lib);
        Path marker = Files.createDirectory(tmp.resolve("marker"));
        Files.setPosixFilePermissions(marker, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        Path source = lib.resolve("evil.c");
        Files.writeString(source, """
                #include <stdio.h>
                #include <unistd.h>
                __attribute__((constructor)) static void evil(void) {
                    FILE *f = fopen(MARKER, "a");
                    if (f) { fprintf(f, "ran in pid %d as uid %d\\n", getpid(), getuid()); fclose(f); }
                }
                """);
        Path evil = lib.resolve("evil.so");
        Path ran = marker.resolve("ran");
        Process cc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-DMARKER=\"" + ran + "\"", "-o", evil.toString(),
                source.toString()).redirectErrorStream(true).start();
        String ccOut = new String(cc.getInputStream().readAllBytes());
        assertEquals(0, cc.waitFor(), ccOut);
        TaskScript.readable(evil);

        Task guest = task("envguest", "virtio-hello.virtio").args("--hang")
                .env("LD_PRELOAD", evil.toString()).env("SECRET", "x-secret").env("VAULT_TOKEN", "hvs.secret");
        Result r = new TaskScript(pluginConfig()).launch()
                .start("start", guest)
                .awaitFile("booted", guest.stdout, "Hello from a virtio unikernel", "30s")
                .step("proc", "proc", "task_id", guest.id)
                .destroy("destroy", guest, true)
                .run(tmp);

        r.ok("start");
        r.ok("booted");
        List<String> environ = new ArrayList<>();
        r.ok("proc").get("environ").forEach(e -> environ.add(e.textValue()));
        assertEquals(List.of("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), environ, "the tender's environment");
        assertFalse(Files.exists(ran), () -> "the job's LD_PRELOAD ran: " + readQuietly(ran));
        r.ok("destroy");
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    /**
     * A job writes its alloc directory while root creates its block files: a directory on the way that
     * is swapped for a symbolic link between the plan and the creation (here, back and forth all the
     * time) must never make root create, resize or chown anything outside — the confirmed attack
     * created {@code ld.so.preload} owned by the task user in the link's target.
     */
    @Test
    void aDirectorySwappedForASymlinkDuringStartNeverMakesRootCreateAFileOutsideTheAlloc() throws Exception {
        Path etc = Files.createDirectory(tmp.resolve("etc"));
        TaskScript.readable(etc);
        Task t = task("blk", "standin-hello-block.hvt");
        Path data = t.allocDir.resolve("alloc/data");
        jobWritable(t.allocDir.resolve("alloc"), data);
        Files.createDirectory(data.resolve("sub"));
        Files.createSymbolicLink(data.resolve("sub.link"), etc);
        // Starts of one task id, each destroyed before the next (a new block file name each time, so
        // that every start creates one), while sub/ is swapped with the link to etc/ all the time.
        TaskScript script = new TaskScript(pluginConfig()).launch();
        for (int i = 0; i < ATTEMPTS; i++) {
            t.config("block", List.of(Map.of("name", "storage", "path", "../alloc/data/sub/ld.so.preload." + i,
                    "size", "1MiB")));
            script.start("start-" + i, t).destroy("destroy-" + i, t, true);
        }
        Result r;
        try (Swapper swapper = Swapper.start(data.resolve("sub"), data.resolve("sub.link"))) {
            r = script.run(tmp);
            assertTrue(swapper.running(), "the swapper stopped");
        }
        try (Stream<Path> created = Files.list(etc)) {
            List<String> outside = created.map(p -> p + " (uid " + uid(p) + ")").toList();
            assertEquals(List.of(), outside, "root created files outside the alloc directory");
        }
        int created = 0;
        for (int i = 0; i < ATTEMPTS; i++) {
            JsonNode start = r.step("start-" + i);
            assertFalse(start.get("timed_out").booleanValue(), start.toString());
            created += start.get("error").isNull() ? 1 : 0;
        }
        try (Stream<Path> inside = Files.list(data.resolve("sub"))) {
            assertEquals(created, inside.count(), "each start that succeeded created its file inside");
        }
    }

    /** Starts per race test: each start has a fair chance to land in the window on the old code. */
    private static final int ATTEMPTS = 100;

    /**
     * A unikernel swapped for a FIFO between the plan's check and the open (here, back and forth all the
     * time) is refused at once: opening a FIFO for reading blocks until a writer comes, which left
     * StartTask hanging as root for ever. Every start answers (the probe bounds each call).
     */
    @Test
    void aUnikernelSwappedForAFifoIsRefusedWithoutBlockingTheStart() throws Exception {
        Task t = task("fifo", "standin-hello.hvt");
        Path local = t.taskDir.resolve("local");
        jobWritable(t.taskDir, local);
        Path fifo = local.resolve("standin-hello.hvt.fifo");
        Process mkfifo = new ProcessBuilder("mkfifo", "-m", "600", fifo.toString()).start();
        assertEquals(0, mkfifo.waitFor());
        TaskScript script = new TaskScript(pluginConfig()).launch();
        for (int i = 0; i < ATTEMPTS; i++) {
            script.start("start-" + i, t).destroy("destroy-" + i, t, true);
        }
        Result r;
        try (Swapper swapper = Swapper.start(local.resolve("standin-hello.hvt"), fifo)) {
            r = script.run(tmp); // fails if a step did not return within the probe's limit
            assertTrue(swapper.running(), "the swapper stopped");
        }
        for (int i = 0; i < ATTEMPTS; i++) {
            JsonNode start = r.step("start-" + i);
            assertFalse(start.get("timed_out").booleanValue(), start.toString());
            if (!start.get("error").isNull()) {
                assertTrue(start.get("error").textValue().contains("unikernel"), start.toString());
            }
        }
    }

    /** As Nomad makes the task and shared alloc directories: everybody may write them (the swaps here need it). */
    private static void jobWritable(Path... dirs) throws java.io.IOException {
        for (Path dir : dirs) {
            Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        }
    }

    private static Object uid(Path p) {
        try {
            return Files.getAttribute(p, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    /**
     * A hostile job's file swap, as fast as it can: a process that exchanges two directory entries
     * atomically (renameat2 RENAME_EXCHANGE) in a loop, so at any moment {@code name} is either the
     * genuine entry or the planted one, each about half of the time, changing every microsecond or so.
     * Stopped with SIGKILL by its pid; the entries are then put back (genuine at {@code name}).
     */
    private static final class Swapper implements AutoCloseable {
        private static final String LOOP = String.join("\n",
                "import ctypes, sys",
                "libc = ctypes.CDLL(None, use_errno=True)",
                "a, b = sys.argv[1].encode(), sys.argv[2].encode()",
                "if libc.renameat2(-100, a, -100, b, 2) != 0: sys.exit('renameat2: errno %d' % ctypes.get_errno())",
                "print('swapping', flush=True)",
                "while True: libc.renameat2(-100, a, -100, b, 2)");
        private final Path name;
        private final Path planted;
        private final Process process;

        private Swapper(Path name, Path planted, Process process) {
            this.name = name;
            this.planted = planted;
            this.process = process;
        }

        /** Starts swapping {@code name} (a genuine regular file or directory) with {@code planted}. */
        static Swapper start(Path name, Path planted) throws java.io.IOException {
            Process p = new ProcessBuilder("python3", "-c", LOOP, name.toString(), planted.toString())
                    .redirectErrorStream(true).start();
            String first = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine();
            if (!"swapping".equals(first)) {
                p.destroyForcibly();
                throw new AssertionError("the swapper did not start: " + first);
            }
            return new Swapper(name, planted, p);
        }

        /** Whether it is still swapping (it stops only on an error). */
        boolean running() {
            return process.isAlive();
        }

        @Override
        public void close() throws Exception {
            process.destroyForcibly();
            process.waitFor();
            java.nio.file.LinkOption nofollow = java.nio.file.LinkOption.NOFOLLOW_LINKS;
            if (!Files.isRegularFile(name, nofollow) && !Files.isDirectory(name, nofollow)) {
                Path tmp = name.resolveSibling(name.getFileName() + ".back");
                Files.move(name, tmp);
                Files.move(planted, name);
                Files.move(tmp, planted);
            }
        }
    }
}
