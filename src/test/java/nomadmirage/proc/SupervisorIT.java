package nomadmirage.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import nomadmirage.testing.Netns;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NativeSupervisor on the real mirage-supervisor binary, with /bin/sh and sleep as tenders. */
class SupervisorIT {
    /** Uids no other run of this class on the machine uses at the same time (a task's own uid is never shared). */
    private static final int TEST_UID = 300_000 + java.util.concurrent.ThreadLocalRandom.current().nextInt(100_000) * 4;

    @TempDir
    Path tmp;

    private final Supervisor supervisor = new NativeSupervisor(binary());
    private final List<SupervisedProcess> launched = new ArrayList<>();
    private final List<Process> children = new ArrayList<>();

    @AfterEach
    void killLeftovers() throws Exception {
        for (SupervisedProcess p : launched) {
            if (p.isAlive()) {
                p.signal(Signals.SIGKILL);
                p.exit().get(30, TimeUnit.SECONDS);
            }
        }
        for (Process p : children) {
            p.destroyForcibly().waitFor();
        }
    }

    static Path binary() {
        Path path = Path.of(System.getProperty("mirage.supervisor",
                TestEnv.repo().resolve("target/mirage-supervisor").toString()));
        assertTrue(Files.isExecutable(path), "missing mirage-supervisor at " + path + " (run ./mvnw package)");
        return path;
    }

    @Test
    void theExitCodeIsPropagated() throws Exception {
        Instant before = Instant.now();
        SupervisedProcess p = launch(sh("exit 3"));
        ExitStatus status = p.exit().get(30, TimeUnit.SECONDS);
        assertEquals(3, status.exitCode());
        assertEquals(0, status.signal());
        assertFalse(status.coreDumped());
        assertNull(status.failure());
        assertFalse(status.exitedAt().isBefore(before.minusSeconds(1)), status.exitedAt().toString());
        assertFalse(p.isAlive());
    }

    @Test
    void aTaskOutlivesItsSupervisorServiceAndItsEndIsStillSeen() throws Exception {
        try (SupervisorService service = new SupervisorService(binary())) {
            Supervisor own = new NativeSupervisor(binary(), NativeSupervisor.DEFAULT_START_TIMEOUT, service);
            SupervisedProcess longer = own.launch(request(sh("exec sleep 60"), Files.createDirectory(tmp.resolve("r1"))));
            launched.add(longer);
            long first = service.pid();
            ProcessHandle killed = ProcessHandle.of(first).orElseThrow();
            killed.destroyForcibly();
            killed.onExit().get(30, TimeUnit.SECONDS);

            assertTrue(longer.isAlive(), "the tender runs on without the service that forked its supervisor");
            assertTrue(longer.signal(Signals.SIGTERM), "signalled through a new service");
            ExitStatus status = longer.exit().get(30, TimeUnit.SECONDS); // watched again after the service ended
            assertEquals(Signals.SIGTERM, status.signal());
            SupervisedProcess next = own.launch(request(sh("exit 3"), Files.createDirectory(tmp.resolve("r2"))));
            assertEquals(3, next.exit().get(30, TimeUnit.SECONDS).exitCode(), "launches go on");
            assertNotEquals(first, service.pid(), "a new service took over");
        }
    }

    /** The service forks supervisors without an exec: each must still look like, and hold only what, an exec'd one would. */
    @Test
    void aSupervisorShowsItsOwnCommandLineAndHoldsNothingOfTheService() throws Exception {
        Path runDir = tmp.resolve("run");
        SupervisedProcess p = launch(sh("exec sleep 60"), runDir);
        Path proc = Path.of("/proc", Long.toString(p.supervisor().pid()));
        List<String> argv = List.of(new String(Files.readAllBytes(proc.resolve("cmdline")), StandardCharsets.UTF_8)
                .split("\0"));
        assertEquals(binary().toRealPath().toString(), argv.get(0), argv.toString());
        int runDirAt = argv.indexOf("--run-dir");
        assertTrue(runDirAt > 0 && argv.get(runDirAt + 1).equals(runDir.toString()), argv.toString());
        assertEquals("/bin/sh", argv.get(argv.indexOf("--") + 1), argv.toString());
        // Forked, not exec'd again through /proc/self/exe (which would name it "exe" in top and ps -o comm).
        assertEquals("mirage-supervis", Files.readString(proc.resolve("comm")).strip());
        List<String> held = new ArrayList<>();
        try (var fds = Files.list(proc.resolve("fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    held.add(fd.getFileName() + " -> " + Files.readSymbolicLink(fd));
                } catch (IOException gone) {
                    // closed while listed
                }
            }
        }
        assertTrue(held.stream().noneMatch(fd -> fd.contains("eventpoll")), "the service's epoll: " + held);
        assertTrue(held.size() <= 8, "descriptors beyond its stdio, pipes and pidfd: " + held);
    }

    @Test
    void aRunDirectoryIsInspectedWithoutAttaching() throws Exception {
        Path empty = Files.createDirectory(tmp.resolve("never-started"));
        assertEquals(Supervisor.RunDirState.NOT_STARTED, supervisor.inspect(empty));
        SupervisedProcess p = launch(sh("exec sleep 60"));
        assertEquals(Supervisor.RunDirState.RUNNING, supervisor.inspect(p.runDir()));
        p.signal(Signals.SIGKILL);
        p.exit().get(30, TimeUnit.SECONDS);
        assertEquals(Supervisor.RunDirState.ENDED, supervisor.inspect(p.runDir()));
    }

    @Test
    void deathBySignalIsReportedAsTheSignal() throws Exception {
        ExitStatus status = launch(sh("kill -9 $$")).exit().get(30, TimeUnit.SECONDS);
        assertEquals(9, status.signal());
        assertEquals(128 + 9, status.exitCode());
        assertNull(status.failure());
    }

    @Test
    void stdoutAndStderrGoToTheGivenFilesAndChdirApplies() throws Exception {
        Path out = tmp.resolve("out.log");
        Path err = tmp.resolve("err.log");
        Path work = Files.createDirectory(tmp.resolve("work"));
        SupervisedProcess p = supervisor.launch(new LaunchRequest(sh("echo to-out; pwd; echo to-err >&2"), work,
                out, err, tmp.resolve("run"), null));
        launched.add(p);
        assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode());
        assertEquals("to-out\n" + work + "\n", Files.readString(out));
        assertEquals("to-err\n", Files.readString(err));
        assertFalse(Files.exists(tmp.resolve("run").resolve(RunDir.LOG)),
                "a supervisor with nothing to say creates no log (a file less per start)");
    }

    @Test
    void outputReachesAFifoReader() throws Exception {
        Path fifo = tmp.resolve("stdout.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        CompletableFuture<String> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readString(fifo);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, SupervisorIT::onItsOwnThread);
        SupervisedProcess p = supervisor.launch(new LaunchRequest(sh("echo through the fifo"), tmp, fifo, null,
                tmp.resolve("run"), null));
        launched.add(p);
        assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode());
        assertEquals("through the fifo\n", reader.get(30, TimeUnit.SECONDS));
    }

    @Test
    void aFifoWithoutReaderTimesOutWithoutLeavingProcessesBehind() throws Exception {
        Path fifo = tmp.resolve("nobody-reads.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        Path runDir = tmp.resolve("run");
        Supervisor impatient = new NativeSupervisor(binary(), Duration.ofSeconds(1));
        LaunchException e = assertThrows(LaunchException.class, () -> impatient.launch(
                new LaunchRequest(List.of("/bin/sleep", "300"), tmp, fifo, null, runDir, null)));
        assertTrue(e.getMessage().contains("did not start") && e.getMessage().contains("FIFO"), e.getMessage());
        ProcessIdentity sup = RunDir.readIdentity(runDir.resolve(RunDir.SUPERVISOR)).orElseThrow();
        assertFalse(sup.isAlive());
        // The half-started child got the forwarded TERM while blocked opening the FIFO.
        ExitStatus status = RunDir.readStatus(runDir).orElseThrow();
        assertEquals(Signals.SIGTERM, status.signal());
        ProcessIdentity child = RunDir.readIdentity(runDir.resolve(RunDir.TENDER)).orElseThrow();
        assertFalse(child.isAlive());
        assertTrue(Files.readString(runDir.resolve(RunDir.LOG)).contains("waiting for a reader on the FIFO " + fifo),
                "what the supervisor said before its report is in its log");
    }

    @Test
    void aMissingTenderFailsTheLaunchWithTheErrnoText() throws Exception {
        Path runDir = tmp.resolve("run");
        LaunchException e = assertThrows(LaunchException.class,
                () -> supervisor.launch(request(List.of("/nonexistent/solo5-hvt", "--mem=64"), runDir)));
        assertTrue(e.getMessage().contains("/nonexistent/solo5-hvt"), e.getMessage());
        assertTrue(e.getMessage().contains("No such file or directory"), e.getMessage());
        assertEquals(2, e.errno());
        ExitStatus status = RunDir.readStatus(runDir).orElseThrow();
        assertEquals(127, status.exitCode());
        assertTrue(status.failure().contains("No such file or directory"), status.failure());
        IOException attach = assertThrows(IOException.class, () -> supervisor.attach(runDir));
        assertTrue(attach.getMessage().contains("never started"), attach.getMessage());
    }

    /**
     * The supervisor (root) and the tender get a fixed environment, never the launching JVM's: a job's
     * variables (LD_PRELOAD, tokens) must not reach them, whatever the plugin's own environment holds.
     */
    @Test
    void theTenderGetsOnlyTheFixedEnvironment() throws Exception {
        Path out = tmp.resolve("env.out");
        SupervisedProcess p = supervisor.launch(new LaunchRequest(List.of("/usr/bin/env"), tmp, out, null,
                tmp.resolve("run"), null));
        launched.add(p);
        assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode());
        assertEquals(List.of("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), Files.readAllLines(out));
    }

    @Test
    void theTenderRunsAsAnotherUserWhileItsOutputFilesWereOpenedAsRoot() throws Exception {
        TestEnv.requireRoot("running the tender as another user needs root");
        Path out = tmp.resolve("ids.out"); // in a 0700 root directory: nobody could not open it itself
        SupervisedProcess p = supervisor.launch(new LaunchRequest(
                sh("grep -E '^(Uid|Gid|Groups):' /proc/self/status; pwd"), Path.of("/"), out, null,
                tmp.resolve("run"), new TaskUser(65534, 65534, List.of(65534, 4242))));
        launched.add(p);
        assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode());
        Map<String, List<String>> ids = Files.readAllLines(out).stream().filter(l -> l.contains(":"))
                .collect(Collectors.toMap(l -> l.substring(0, l.indexOf(':')),
                        l -> Arrays.asList(l.substring(l.indexOf(':') + 1).strip().split("\\s+"))));
        assertEquals(List.of("65534", "65534", "65534", "65534"), ids.get("Uid"));
        assertEquals(List.of("65534", "65534", "65534", "65534"), ids.get("Gid"));
        assertEquals(Set.of("65534", "4242"), Set.copyOf(ids.get("Groups")));
        assertTrue(Files.readAllLines(out).contains("/"));
    }

    @Test
    void theTenderCanNeitherGainPrivilegesNorDumpCore() throws Exception {
        TestEnv.requireRoot("running the tender as another user needs root");
        Path out = tmp.resolve("privs.out");
        SupervisedProcess p = supervisor.launch(new LaunchRequest(
                sh("grep '^NoNewPrivs:' /proc/self/status; grep '^Max core file size' /proc/self/limits"),
                Path.of("/"), out, null, tmp.resolve("run"), new TaskUser(TEST_UID, TEST_UID, List.of())));
        launched.add(p);
        assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode());
        List<String> lines = Files.readAllLines(out);
        assertEquals("NoNewPrivs:\t1", lines.get(0), "a setuid binary or file capability gives the tender nothing");
        assertTrue(lines.get(1).matches("Max core file size\\s+0\\s+0\\s+bytes\\s*"), lines.get(1));
    }

    /**
     * A uid of the task's own: whatever the tender leaves running is ended once it has exited;
     * processes of other uids are untouched.
     */
    @Test
    void whatTheTenderLeftRunningUnderItsOwnUidIsEndedOnceItExited() throws Exception {
        TestEnv.requireRoot("running processes as another user needs root");
        int uid = TEST_UID + 1;
        Process bystander = new ProcessBuilder("setpriv", "--reuid=" + (TEST_UID + 2), "--regid=" + (TEST_UID + 2),
                "--clear-groups", "sleep", "300").start();
        try {
            Path out = tmp.resolve("left.out");
            SupervisedProcess p = supervisor.launch(new LaunchRequest(
                    sh("setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!"), Path.of("/"), out, null,
                    tmp.resolve("run"), new TaskUser(uid, uid, List.of(), true)));
            launched.add(p);
            assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode());
            long left = Long.parseLong(Files.readString(out).strip());
            assertTrue(endsWithin(left, Duration.ofSeconds(30)), "the tender's leftover " + left + " runs on");
            assertTrue(bystander.isAlive(), "a process of another uid was touched");
        } finally {
            bystander.destroyForcibly();
        }
    }

    /** Gone or a zombie (ended, waiting for a parent that is not this JVM to reap it). */
    private static boolean endsWithin(long pid, Duration limit) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        Path stat = Path.of("/proc", Long.toString(pid), "stat");
        while (System.nanoTime() < deadline) {
            String text;
            try {
                text = Files.readString(stat);
            } catch (java.nio.file.NoSuchFileException e) {
                return true;
            }
            char state = text.charAt(text.lastIndexOf(')') + 2);
            if (state == 'Z' || state == 'X') {
                return true;
            }
            Thread.sleep(20); // polling /proc: no event tells of a non-child's end
        }
        return false;
    }

    /**
     * A networked tender opens its tap by name through /dev/net/tun: it gets a node of its own, owned by
     * its user, in a mount namespace of its own; the host's node and mount table stay as they are.
     */
    @Test
    void aPrivateTunNodeIsTheTendersAloneAndTheHostsStaysAsItIs() throws Exception {
        TestEnv.requireRoot("a private /dev/net/tun needs root");
        Path hostTun = Path.of("/dev/net/tun");
        Map<String, Object> before = Files.readAttributes(hostTun, "unix:mode,uid,gid,rdev,ino",
                java.nio.file.LinkOption.NOFOLLOW_LINKS);
        String hostMounts = Files.readString(Path.of("/proc/self/mountinfo"));
        Path out = tmp.resolve("tun.out");
        SupervisedProcess p = supervisor.launch(new LaunchRequest(
                sh("stat -c '%a %u %g %t:%T %F' /dev/net/tun /dev/kvm"), Path.of("/"), out, null,
                tmp.resolve("run"), new TaskUser(TEST_UID + 3, TEST_UID + 3, List.of(), true),
                Set.of(PrivateDevice.TUN, PrivateDevice.KVM)));
        launched.add(p);
        assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode(), Files.readString(out));
        String ids = (TEST_UID + 3) + " " + (TEST_UID + 3);
        assertEquals(List.of("600 " + ids + " a:c8 character special file", "600 " + ids + " a:e8 character special file"),
                Files.readAllLines(out));
        assertEquals(before, Files.readAttributes(hostTun, "unix:mode,uid,gid,rdev,ino",
                java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertEquals(hostMounts, Files.readString(Path.of("/proc/self/mountinfo")), "a mount reached the host");
    }

    @Test
    void signalsToTheSupervisorAreForwardedToTheTender() throws Exception {
        SupervisedProcess p = launch(List.of("/bin/sleep", "300"));
        assertTrue(p.isAlive());
        ProcessHandle.of(p.supervisor().pid()).orElseThrow().destroy();
        ExitStatus status = p.exit().get(30, TimeUnit.SECONDS);
        assertEquals(Signals.SIGTERM, status.signal());
        assertFalse(p.isAlive());
        assertFalse(p.supervisor().isAlive());
    }

    @Test
    void signalReachesTheTenderAndIsRefusedOnceItIsGone() throws Exception {
        // The shell says when its trap is installed; the loop (sleep 0.1) is the tender running on.
        Path trapped = tmp.resolve("trap-installed");
        SupervisedProcess p = launch(sh("trap 'exit 42' USR1; : > '" + trapped + "'; while :; do sleep 0.1; done"));
        awaitFile(trapped, p, Duration.ofSeconds(30));
        assertTrue(p.signal(Signals.parse("SIGUSR1")));
        assertEquals(42, p.exit().get(30, TimeUnit.SECONDS).exitCode());
        assertFalse(p.signal(Signals.SIGKILL));
    }

    @Test
    void signalRefusesAStaleIdentity() throws Exception {
        Process sleeper = new ProcessBuilder("/bin/sleep", "300").start();
        children.add(sleeper);
        ProcessIdentity real = ProcessIdentity.current(sleeper.pid()).orElseThrow();
        ProcessIdentity stale = new ProcessIdentity(real.pid(), real.startTicks() + 1);
        Path runDir = Files.createDirectory(tmp.resolve("stale"));
        Files.writeString(runDir.resolve(RunDir.SUPERVISOR), "pid=" + stale.pid() + "\nstart_ticks=" + stale.startTicks() + "\n");
        Files.writeString(runDir.resolve(RunDir.TENDER), "pid=" + stale.pid() + "\nstart_ticks=" + stale.startTicks() + "\n");

        SupervisedProcess attached = supervisor.attach(runDir);
        assertFalse(attached.isAlive());
        assertFalse(attached.signal(Signals.SIGKILL));
        assertTrue(attached.exit().isDone());
        assertEquals(NativeSupervisedProcess.BOTH_GONE, attached.exit().get().failure());
        // The binary's own check, which holds a pidfd while comparing the start time.
        assertEquals(3, runSignalMode(Signals.SIGKILL, stale));
        assertTrue(sleeper.isAlive());
        assertEquals(0, runSignalMode(Signals.SIGCONT, real));
    }

    @Test
    void aRunDirWithALiveSupervisorIsNotReused() throws Exception {
        Path runDir = tmp.resolve("run");
        launch(List.of("/bin/sleep", "300"), runDir);
        LaunchException e = assertThrows(LaunchException.class, () -> supervisor.launch(request(sh("true"), runDir)));
        assertTrue(e.getMessage().contains("still runs"), e.getMessage());
    }

    @Test
    void theSupervisorSurvivesTheJvmThatLaunchedItBeingKilled() throws Exception {
        Path runDir = tmp.resolve("run");
        Process jvm = launchingJvm(runDir, "hang", "/bin/sleep", "300");
        long[] pids = launchedLine(jvm);
        jvm.destroyForcibly().waitFor();

        SupervisedProcess p = supervisor.attach(runDir);
        launched.add(p);
        assertEquals(pids[0], p.tender().pid());
        assertEquals(pids[1], p.supervisor().pid());
        assertTrue(p.isAlive());
        assertTrue(p.supervisor().isAlive());
        assertFalse(p.exit().isDone());
        assertNotEquals(jvm.pid(), ProcessHandle.of(p.supervisor().pid()).orElseThrow().parent().map(ProcessHandle::pid).orElse(-1L));

        assertTrue(p.signal(Signals.SIGTERM));
        ExitStatus status = p.exit().get(60, TimeUnit.SECONDS);
        assertEquals(Signals.SIGTERM, status.signal());
        assertNull(status.failure());
    }

    @Test
    void aTenderThatEndedWhileNobodyWasAttachedReportsAtOnce() throws Exception {
        Path runDir = tmp.resolve("run");
        // The tender ends only when the test writes to its FIFO, which it does once the launching JVM is gone.
        Path release = tmp.resolve("release.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", release.toString()).start().waitFor());
        Process jvm = launchingJvm(runDir, "exit", "/bin/sh", "-c", "read line < '" + release + "'; exit 7");
        launchedLine(jvm);
        assertTrue(jvm.waitFor(60, TimeUnit.SECONDS), "the launching JVM did not exit");
        ProcessIdentity sup = RunDir.readIdentity(runDir.resolve(RunDir.SUPERVISOR)).orElseThrow();
        ProcessHandle supervisorHandle = ProcessHandle.of(sup.pid())
                .orElseThrow(() -> new AssertionError("the supervisor " + sup.pid() + " ended before the tender was released"));
        CompletableFuture.runAsync(() -> {
            try (OutputStream out = Files.newOutputStream(release)) { // blocks until the tender opened the FIFO
                out.write("go\n".getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, r -> Thread.ofPlatform().daemon().start(r)).get(30, TimeUnit.SECONDS);
        supervisorHandle.onExit().get(60, TimeUnit.SECONDS);
        assertFalse(sup.isAlive());

        SupervisedProcess p = supervisor.attach(runDir);
        assertTrue(p.exit().isDone());
        ExitStatus status = p.exit().get();
        assertEquals(7, status.exitCode());
        assertNull(status.failure());
        assertFalse(p.isAlive());
        assertFalse(p.signal(Signals.SIGTERM));
    }

    @Test
    void aLostSupervisorAndTenderGiveAnUnknownStatus() throws Exception {
        SupervisedProcess p = launch(List.of("/bin/sleep", "300"));
        // SIGKILL to the supervisor alone: it cannot write a status, the tender runs on.
        ProcessHandle.of(p.supervisor().pid()).orElseThrow().destroyForcibly();
        ProcessHandle.of(p.supervisor().pid()).ifPresent(h -> h.onExit().join());
        SupervisedProcess attached = supervisor.attach(p.runDir());
        assertTrue(attached.isAlive());
        assertFalse(attached.exit().isDone());
        assertTrue(attached.signal(Signals.SIGKILL));
        ExitStatus status = attached.exit().get(60, TimeUnit.SECONDS);
        assertTrue(status.failure().contains("unsupervised"), status.failure());
        assertEquals(NativeSupervisedProcess.BOTH_GONE, supervisor.attach(p.runDir()).exit().get().failure());
    }

    @Test
    void theSupervisorIsSmallAndDetached() throws Exception {
        SupervisedProcess p = launch(List.of("/bin/sleep", "300"));
        long pid = p.supervisor().pid();
        String status = Files.readString(Path.of("/proc", Long.toString(pid), "status"));
        String rss = status.lines().filter(l -> l.startsWith("VmRSS:") || l.startsWith("RssAnon:"))
                .map(l -> l.replaceAll("\\s+", " ")).collect(Collectors.joining(", "));
        String tenderRss = Files.readString(Path.of("/proc", Long.toString(p.tender().pid()), "status")).lines()
                .filter(l -> l.startsWith("VmRSS:")).findFirst().orElse("?").replaceAll("\\s+", " ");
        System.out.println("mirage-supervisor pid " + pid + ": " + rss + " (tender sleep " + tenderRss + ")");

        StatLine stat = StatLine.read(pid).orElseThrow();
        assertEquals(pid, stat.session(), "the supervisor leads its own session");
        // The only pipes it holds are the tender's stdout and stderr: none leads to the launching JVM. It moves its
        // stdout off the report pipe right after its report line, which the launch may have been answered with
        // a moment earlier: awaited, within a deadline.
        Set<String> tenderOutputs = Set.copyOf(List.of(fdTarget(p.tender().pid(), 1), fdTarget(p.tender().pid(), 2)));
        List<String> targets = fdTargets(pid);
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (targets.stream().filter(t -> t.startsWith("pipe:")).count() > 2 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
            targets = fdTargets(pid);
        }
        List<String> pipes = targets.stream().filter(t -> t.startsWith("pipe:")).toList();
        assertEquals(2, pipes.size(), "the tender's stdout and stderr pipes: " + targets);
        assertEquals(tenderOutputs, Set.copyOf(pipes), "pipes " + targets + " vs the tender's " + tenderOutputs);
        assertEquals("pid=" + p.tender().pid() + "\nstart_ticks=" + p.tender().startTicks() + "\n",
                Files.readString(p.runDir().resolve(RunDir.TENDER)));
    }

    /**
     * FIFO readers block in open until a writer comes: each gets its own daemon thread, so one
     * that never gets a writer (a failing test) cannot starve the common pool, which
     * ProcessCommandRunner needs to read the output of "mirage-supervisor --signal".
     */
    private static void onItsOwnThread(Runnable task) {
        Thread.ofPlatform().daemon().name("fifo-reader").start(task);
    }

    private static List<String> fdTargets(long pid) throws IOException {
        try (var fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.map(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    return "?";
                }
            }).toList();
        }
    }

    private static String fdTarget(long pid, int fd) throws IOException {
        return Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "fd", Integer.toString(fd))).toString();
    }

    // --- the console: copied through the supervisor, its tail kept in the run dir -----------------

    private static String numbered(int from, int to) {
        StringBuilder b = new StringBuilder();
        for (int i = from; i <= to; i++) {
            b.append("line ").append(i).append('\n');
        }
        return b.toString();
    }

    @Test
    void theConsoleTailHoldsTheLastLinesWhileTheFileGetsThemAllInOrder() throws Exception {
        Path out = tmp.resolve("out.log");
        SupervisedProcess p = supervisor.launch(new LaunchRequest(
                sh("i=1; while [ $i -le 30 ]; do echo \"line $i\"; i=$((i+1)); done; exit 3"), tmp, out, null,
                tmp.resolve("run"), null));
        launched.add(p);
        ExitStatus status = p.exit().get(30, TimeUnit.SECONDS);
        assertEquals(3, status.exitCode());
        assertEquals(0, status.signal());
        assertEquals(numbered(1, 30), Files.readString(out));
        assertEquals(numbered(11, 30), status.consoleTail(), "the last 20 lines");
        assertEquals(status.consoleTail(), Files.readString(p.runDir().resolve(RunDir.CONSOLE_TAIL)));
    }

    @Test
    void theTailStaysWithin2KiBOfWholeLines() throws Exception {
        String pad = "x".repeat(150);
        SupervisedProcess p = launch(sh("i=1; while [ $i -le 30 ]; do echo \"$i " + pad + "\"; i=$((i+1)); done"));
        String tail = p.exit().get(30, TimeUnit.SECONDS).consoleTail();
        assertTrue(tail.length() <= 2048, "tail of " + tail.length() + " bytes");
        List<String> lines = tail.lines().toList();
        assertEquals(2048 / (4 + pad.length()), lines.size(), tail);
        assertEquals("30 " + pad, lines.getLast());
        for (int i = 0; i < lines.size(); i++) {
            assertEquals((31 - lines.size() + i) + " " + pad, lines.get(i), "whole lines, in order");
        }
        // A single line longer than the tail is kept in pieces (the tail is context, not a log).
        SupervisedProcess q = launch(sh("head -c 5000 /dev/zero | tr '\\0' y; echo; echo last"), tmp.resolve("run2"));
        String long1 = q.exit().get(30, TimeUnit.SECONDS).consoleTail();
        assertTrue(long1.length() <= 2048 && long1.endsWith("y\nlast\n"), long1);
    }

    @Test
    void stderrIsInTheTailTooAndNoOutputPathStillKeepsTheTail() throws Exception {
        ExitStatus status = launch(sh("echo to-out; sleep 0.1; echo to-err >&2; printf 'no newline'"))
                .exit().get(30, TimeUnit.SECONDS);
        assertEquals("to-out\nto-err\nno newline\n", status.consoleTail());
    }

    @Test
    void whoeverSeesTheStatusSeesTheTail() throws Exception {
        for (int round = 0; round < 5; round++) {
            Path runDir = tmp.resolve("run" + round);
            SupervisedProcess p = launch(sh("sleep 0.2; echo round " + round), runDir);
            Path status = runDir.resolve(RunDir.STATUS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!Files.exists(status) && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertTrue(Files.exists(status));
            assertEquals("round " + round + "\n", Files.readString(runDir.resolve(RunDir.CONSOLE_TAIL)));
            p.exit().get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void tenMegabytesOfOutputAreCopiedCompletelyAndPromptly() throws Exception {
        String script = "seq 1 1400000";
        byte[] expected = new ProcessBuilder("/bin/sh", "-c", script).start().getInputStream().readAllBytes();
        assertTrue(expected.length > 10_000_000, "want 10 MB, seq gave " + expected.length);

        Path direct = tmp.resolve("direct.log");
        long t0 = System.nanoTime();
        assertEquals(0, new ProcessBuilder("/bin/sh", "-c", script).redirectOutput(direct.toFile()).start().waitFor());
        long directMs = (System.nanoTime() - t0) / 1_000_000;

        long t = System.nanoTime();
        assertEquals(0, launch(sh("true"), tmp.resolve("run-true")).exit().get(30, TimeUnit.SECONDS).exitCode());
        long overheadMs = (System.nanoTime() - t) / 1_000_000;

        Path out = tmp.resolve("big.log");
        long t1 = System.nanoTime();
        SupervisedProcess p = supervisor.launch(new LaunchRequest(sh(script + "; exit 5"), tmp, out, null,
                tmp.resolve("run"), null));
        launched.add(p);
        ExitStatus status = p.exit().get(60, TimeUnit.SECONDS);
        long fileMs = (System.nanoTime() - t1) / 1_000_000;
        assertEquals(5, status.exitCode());
        assertTrue(Arrays.equals(expected, Files.readAllBytes(out)), "the file holds all of it, in order");
        assertEquals("1399981", status.consoleTail().lines().findFirst().orElseThrow());
        assertEquals("1400000", status.consoleTail().lines().reduce((a, b) -> b).orElseThrow());

        // Through a FIFO, as from Nomad's log FIFOs.
        Path fifo = tmp.resolve("big.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        CompletableFuture<byte[]> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readAllBytes(fifo);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, SupervisorIT::onItsOwnThread);
        long t2 = System.nanoTime();
        SupervisedProcess f = supervisor.launch(new LaunchRequest(sh(script), tmp, fifo, null,
                tmp.resolve("run-fifo"), null));
        launched.add(f);
        assertEquals(0, f.exit().get(60, TimeUnit.SECONDS).exitCode());
        long fifoMs = (System.nanoTime() - t2) / 1_000_000;
        assertTrue(Arrays.equals(expected, reader.get(60, TimeUnit.SECONDS)), "the FIFO reader got all of it, in order");

        double mb = expected.length / 1e6;
        System.out.printf("console copy: %.1f MB from launch to exit status: to a file %d ms (%.0f MB/s), to a FIFO"
                + " %d ms (%.0f MB/s); launch to exit status of a tender writing nothing: %d ms; the same shell"
                + " writing the file itself: %d ms%n", mb, fileMs, mb * 1000 / Math.max(1, fileMs), fifoMs,
                mb * 1000 / Math.max(1, fifoMs), overheadMs, directMs);
        assertTrue(fileMs < 15_000 && fifoMs < 15_000, "file " + fileMs + " ms, FIFO " + fifoMs + " ms");
    }

    private static CompletableFuture<String> firstLineThenClose(Path fifo) {
        return CompletableFuture.supplyAsync(() -> {
            try (BufferedReader r = Files.newBufferedReader(fifo)) {
                return r.readLine();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, SupervisorIT::onItsOwnThread);
    }

    private static CompletableFuture<String> readAll(Path fifo) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readString(fifo);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, SupervisorIT::onItsOwnThread);
    }

    private static final String SLOW_COUNT = "i=0; while [ $i -lt 60 ]; do echo \"line $i\"; i=$((i+1)); sleep 0.05; done; exit 4";

    private static void assertIncreasingLinesEndingWithTheLast(String text) {
        List<String> lines = text.lines().toList();
        assertFalse(lines.isEmpty(), "the second reader got nothing");
        assertEquals("line 59", lines.getLast(), text);
        int previous = -1;
        for (String line : lines) {
            int n = Integer.parseInt(line.substring("line ".length()));
            assertTrue(n > previous, "out of order: " + text);
            previous = n;
        }
    }

    @Test
    void whenTheFifoReaderGoesAwayTheTenderRunsOnAndAReaderThatComesBackGetsTheRest() throws Exception {
        Path fifo = tmp.resolve("stdout.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        CompletableFuture<String> first = firstLineThenClose(fifo);
        SupervisedProcess p = supervisor.launch(new LaunchRequest(sh(SLOW_COUNT), tmp, fifo, null,
                tmp.resolve("run"), null));
        launched.add(p);
        assertEquals("line 0", first.get(30, TimeUnit.SECONDS));
        Thread.sleep(500); // output meanwhile goes nowhere; before, the tender died of SIGPIPE here
        assertTrue(p.isAlive());
        CompletableFuture<String> second = readAll(fifo); // as Nomad's logmon after a restart: the same FIFO
        ExitStatus status = p.exit().get(30, TimeUnit.SECONDS);
        assertEquals(0, status.signal(), "the tender must not die of SIGPIPE");
        assertEquals(4, status.exitCode());
        assertIncreasingLinesEndingWithTheLast(second.get(30, TimeUnit.SECONDS));
        assertTrue(status.consoleTail().endsWith("line 58\nline 59\n"), status.consoleTail());
        String log = RunDir.logTail(p.runDir());
        assertTrue(log.contains("the reader went away"), log);
    }

    @Test
    void aFifoRecreatedAtThePathIsReopened() throws Exception {
        Path fifo = tmp.resolve("stdout.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        CompletableFuture<String> first = firstLineThenClose(fifo);
        SupervisedProcess p = supervisor.launch(new LaunchRequest(sh(SLOW_COUNT), tmp, fifo, null,
                tmp.resolve("run"), null));
        launched.add(p);
        assertEquals("line 0", first.get(30, TimeUnit.SECONDS));
        Files.delete(fifo);
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        CompletableFuture<String> second = readAll(fifo); // blocks until the supervisor reopens the path
        ExitStatus status = p.exit().get(30, TimeUnit.SECONDS);
        assertEquals(4, status.exitCode());
        assertIncreasingLinesEndingWithTheLast(second.get(30, TimeUnit.SECONDS));
        String log = RunDir.logTail(p.runDir());
        assertTrue(log.contains("reopened"), log);
    }

    /**
     * In a Nomad group's network namespace: the tender joins it (and sees only its links), the
     * supervisor, the tender's parent, stays in its own.
     */
    @Test
    void theTenderRunsInTheGivenNetworkNamespaceAndItsSupervisorInItsOwn() throws Exception {
        try (Netns ns = Netns.create()) {
            Path nsFile = Path.of("/run/netns", ns.name());
            String inode = stat(nsFile);
            Path out = tmp.resolve("netns.out");
            SupervisedProcess p = supervisor.launch(new LaunchRequest(
                    sh("readlink /proc/self/ns/net; readlink /proc/$PPID/ns/net; ip -o link"), Path.of("/"), out, null,
                    tmp.resolve("run"), null, Set.of(), List.of(), nsFile));
            launched.add(p);
            assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode(), Files.readString(out));
            List<String> lines = Files.readAllLines(out);
            assertTrue(lines.size() >= 3, lines.toString());
            assertEquals("net:[" + inode + "]", lines.get(0), "the tender's network namespace");
            assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString(), lines.get(1),
                    "the supervisor's network namespace is this JVM's");
            List<String> links = lines.subList(2, lines.size()).stream().map(l -> l.split(":\\s*")[1]).toList();
            assertEquals(List.of("lo"), links, "the tender sees the namespace's links only: " + lines);
        }
    }

    /** Anything but a namespace file (nsfs) is refused before the tender runs, and nothing is left running. */
    @Test
    void aNetworkNamespaceThatIsARegularFileIsRefused() throws Exception {
        TestEnv.requireRoot("joining a network namespace needs root");
        Path plain = Files.writeString(tmp.resolve("not-a-netns"), "");
        Path ran = tmp.resolve("ran");
        Path runDir = tmp.resolve("run");
        LaunchException e = assertThrows(LaunchException.class, () -> supervisor.launch(new LaunchRequest(
                sh("touch " + ran), Path.of("/"), null, null, runDir, null, Set.of(), List.of(), plain)));
        assertTrue(e.getMessage().contains(plain + " is not a network namespace: a regular file"), e.getMessage());
        assertEquals(22, e.errno(), "EINVAL");
        assertFalse(Files.exists(ran), "the tender ran");
        ExitStatus status = RunDir.readStatus(runDir).orElseThrow();
        assertEquals(127, status.exitCode());
        assertTrue(status.failure().contains("not a network namespace"), status.failure());
        assertFalse(Files.exists(runDir.resolve(RunDir.TENDER)), "a tender was recorded");
        assertFalse(RunDir.readIdentity(runDir.resolve(RunDir.SUPERVISOR)).orElseThrow().isAlive(),
                "the supervisor runs on");
        assertEquals(List.of(), processesNaming(runDir), "the supervisor or its child is left");
    }

    /** A symlink is never followed, not even to a real network namespace. */
    @Test
    void aSymlinkToANetworkNamespaceIsRefused() throws Exception {
        try (Netns ns = Netns.create()) {
            Path link = Files.createSymbolicLink(tmp.resolve("netns-link"), Path.of("/run/netns", ns.name()));
            Path ran = tmp.resolve("ran");
            Path runDir = tmp.resolve("run");
            LaunchException e = assertThrows(LaunchException.class, () -> supervisor.launch(new LaunchRequest(
                    sh("touch " + ran), Path.of("/"), null, null, runDir, null, Set.of(), List.of(), link)));
            assertTrue(e.getMessage().contains(link + " is a symbolic link, which is not followed"), e.getMessage());
            assertEquals(40, e.errno(), "ELOOP");
            assertFalse(Files.exists(ran), "the tender ran");
            assertEquals(List.of(), processesNaming(runDir), "the supervisor or its child is left");
        }
    }

    /** The inode number of what {@code path} leads to ({@code stat -L}). */
    private static String stat(Path path) throws IOException, InterruptedException {
        Process stat = new ProcessBuilder("stat", "-L", "-c", "%i", path.toString()).start();
        String inode = new String(stat.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, stat.waitFor(), new String(stat.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
        assertTrue(inode.matches("\\d+"), inode);
        return inode;
    }

    /** Pids of the processes whose command line names {@code path} (a supervisor and its forked child name their run dir). */
    private static List<Long> processesNaming(Path path) throws IOException {
        String needle = path.toString();
        List<Long> found = new ArrayList<>();
        try (var entries = Files.list(Path.of("/proc"))) {
            for (Path entry : (Iterable<Path>) entries::iterator) {
                String name = entry.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                byte[] cmdline;
                try {
                    cmdline = Files.readAllBytes(entry.resolve("cmdline"));
                } catch (IOException gone) {
                    continue;
                }
                for (String arg : new String(cmdline, StandardCharsets.UTF_8).split("\0")) {
                    if (arg.equals(needle)) {
                        found.add(Long.parseLong(name));
                        break;
                    }
                }
            }
        }
        return found;
    }

    @Test
    void outputPathsAreNeverFollowedThroughASymlinkNorOpenedWhenNotAFifoOrFile() throws Exception {
        Path target = Files.writeString(tmp.resolve("elsewhere.txt"), "untouched\n");
        Path link = Files.createSymbolicLink(tmp.resolve("out.log"), target);
        LaunchException e = assertThrows(LaunchException.class, () -> supervisor.launch(new LaunchRequest(
                sh("echo should-not-run"), tmp, link, null, tmp.resolve("run"), null)));
        assertTrue(e.getMessage().contains(link + " is a symbolic link"), e.getMessage());
        assertEquals(40, e.errno(), "ELOOP");
        assertEquals("untouched\n", Files.readString(target));
        ExitStatus status = RunDir.readStatus(tmp.resolve("run")).orElseThrow();
        assertEquals(127, status.exitCode());
        assertTrue(status.failure().contains("symbolic link"), status.failure());

        Path dir = Files.createDirectory(tmp.resolve("a-directory"));
        LaunchException notAFile = assertThrows(LaunchException.class, () -> supervisor.launch(new LaunchRequest(
                sh("true"), tmp, null, dir, tmp.resolve("run2"), null)));
        assertTrue(notAFile.getMessage().contains("stderr " + dir + " is neither a FIFO nor a regular file"),
                notAFile.getMessage());
    }

    @Test
    void anExistingFileIsAppendedToAndAMissingOneCreated() throws Exception {
        Path existing = Files.writeString(tmp.resolve("existing.log"), "before\n");
        Path missing = tmp.resolve("missing.log");
        SupervisedProcess p = supervisor.launch(new LaunchRequest(sh("echo out; echo err >&2"), tmp, existing,
                missing, tmp.resolve("run"), null));
        launched.add(p);
        assertEquals(0, p.exit().get(30, TimeUnit.SECONDS).exitCode());
        assertEquals("before\nout\n", Files.readString(existing));
        assertEquals("err\n", Files.readString(missing));
        assertTrue(Files.isRegularFile(missing, java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    /** Until {@code file} exists (an inotify watch on its directory), failing when {@code p} ends first. */
    private static void awaitFile(Path file, SupervisedProcess p, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (WatchService watch = file.getFileSystem().newWatchService()) {
            file.getParent().register(watch, StandardWatchEventKinds.ENTRY_CREATE);
            while (!Files.exists(file)) { // checked after registering, so no creation is missed
                assertTrue(p.isAlive(), "the tender ended before it created " + file + ": " + p.exit().getNow(null));
                long left = deadline - System.nanoTime();
                assertTrue(left > 0, "the tender did not create " + file + " within " + timeout);
                WatchKey key = watch.poll(Math.min(left, TimeUnit.SECONDS.toNanos(1)), TimeUnit.NANOSECONDS);
                if (key != null) {
                    key.pollEvents();
                    key.reset();
                }
            }
        }
    }

    private SupervisedProcess launch(List<String> argv) throws LaunchException {
        return launch(argv, tmp.resolve("run"));
    }

    private SupervisedProcess launch(List<String> argv, Path runDir) throws LaunchException {
        SupervisedProcess p = supervisor.launch(request(argv, runDir));
        launched.add(p);
        return p;
    }

    private LaunchRequest request(List<String> argv, Path runDir) {
        return new LaunchRequest(argv, tmp, null, null, runDir, null);
    }

    private static List<String> sh(String script) {
        return List.of("/bin/sh", "-c", script);
    }

    private int runSignalMode(int signo, ProcessIdentity target) throws Exception {
        Process p = new ProcessBuilder(binary().toString(), "--signal", Integer.toString(signo),
                "--pid", Long.toString(target.pid()), "--start-ticks", Long.toString(target.startTicks()))
                .inheritIO().start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return p.exitValue();
    }

    private Process launchingJvm(Path runDir, String mode, String... tender) throws IOException {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), LaunchingJvm.class.getName(),
                binary().toString(), runDir.toString(), mode));
        command.addAll(List.of(tender));
        Process jvm = new ProcessBuilder(command).redirectError(tmp.resolve("jvm.stderr").toFile()).start();
        children.add(jvm);
        return jvm;
    }

    /** Returns {tender pid, supervisor pid} from the child JVM's "launched" line. */
    private long[] launchedLine(Process jvm) throws IOException {
        BufferedReader reader = jvm.inputReader(StandardCharsets.UTF_8);
        String line = reader.readLine();
        assertTrue(line != null && line.startsWith("launched "),
                "child JVM said " + line + "; stderr: " + Files.readString(tmp.resolve("jvm.stderr")));
        String[] words = line.split(" ");
        return new long[] {Long.parseLong(words[1]), Long.parseLong(words[2])};
    }
}
