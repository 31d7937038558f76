package nomadmirage.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NativeSupervisor on the real mirage-supervisor binary, with /bin/sh and sleep as tenders. */
class SupervisorIT {

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
        });
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
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root");
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
        SupervisedProcess p = launch(sh("trap 'exit 42' USR1; while :; do sleep 0.1; done"));
        Thread.sleep(300); // let the shell install its trap
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
        Process jvm = launchingJvm(runDir, "exit", "/bin/sh", "-c", "sleep 1; exit 7");
        launchedLine(jvm);
        assertTrue(jvm.waitFor(60, TimeUnit.SECONDS));
        ProcessIdentity sup = RunDir.readIdentity(runDir.resolve(RunDir.SUPERVISOR)).orElseThrow();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (sup.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
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
        try (var fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            List<String> targets = fds.map(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    return "?";
                }
            }).toList();
            assertTrue(targets.stream().noneMatch(t -> t.startsWith("pipe:")), "holds no pipe: " + targets);
        }
        assertEquals("pid=" + p.tender().pid() + "\nstart_ticks=" + p.tender().startTicks() + "\n",
                Files.readString(p.runDir().resolve(RunDir.TENDER)));
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
