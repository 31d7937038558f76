package nomadmirage.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.opentest4j.TestAbortedException;

/**
 * A real Nomad agent with the mirage plugin, started by {@code scripts/dev-agent.sh} in a network
 * namespace of its own, with a temporary run directory (mode 0755: tenders run as {@code nobody} and
 * must traverse it). The agent, and the plugins it launches, get a TMPDIR of their own, so that the
 * socket directories of plugins a test kills do not pile up in /tmp. {@link #close()} stops the agent,
 * deletes its namespace and removes both directories.
 *
 * <p>Tests should start agents through {@link Agents} (a JUnit extension): it stops them even when a
 * test fails and adds the tail of each agent's log to the failure message.
 */
public final class NomadAgent implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration POLL = Duration.ofMillis(250);
    private static final int LOG_TAIL_LINES = 80;

    public enum Mode {
        /** {@code nomad agent -dev}: in-memory server state. */
        DEV,
        /** server + client keeping state in DIR/data, so that the agent survives {@link #restart()}. */
        PERSISTENT
    }

    /**
     * What Nomad's group networking ({@code network { mode = "bridge" }}) needs of an agent, passed to
     * {@code dev-agent.sh start} as {@code --cni-path} and {@code --lab}: the client's {@code cni_path},
     * and a bridge {@value #LAB_BRIDGE} in the agent's namespace with address {@code labCidr} as the
     * client's {@code network_interface} (instead of {@code lo}), so that host ports are bound to an
     * address other namespaces can reach ({@link NomadAgent#joinLab}).
     */
    public record GroupNetworking(Path cniPath, String labCidr) {
        /** The node's interface in the agent's namespace. */
        public static final String LAB_BRIDGE = "lab0";

        /**
         * Debian's containernetworking-plugins (scripts/setup-machine.sh installs them) and the node on
         * 198.51.100.1/24 (TEST-NET-2: not this machine's own subnet, nor the cluster test's).
         */
        public static GroupNetworking debian() {
            return new GroupNetworking(Path.of("/usr/lib/cni"), "198.51.100.1/24");
        }

        public GroupNetworking {
            if (!labCidr.matches("\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+")) {
                throw new IllegalArgumentException("not an IPv4 address with prefix length: " + labCidr);
            }
        }

        /** The node's address (labCidr without the prefix length): Nomad binds host ports to it. */
        public String nodeAddress() {
            return labCidr.substring(0, labCidr.indexOf('/'));
        }

        private List<String> args() {
            return List.of("--cni-path", cniPath.toString(), "--lab", labCidr);
        }
    }

    /** Output of a finished command. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        @Override
        public String toString() {
            return "`" + String.join(" ", command) + "` exited " + exitCode + "\n-- stdout --\n" + stdout
                    + "\n-- stderr --\n" + stderr;
        }
    }

    /** A task's run directory in the plugin's state_dir, and the tender it records. */
    public record RunDir(Path path) {
        /** The {@code tender} file's pid and start time ({@code key=value} lines). */
        public Map<String, String> tenderFile() {
            return keyValues(path.resolve("tender"));
        }

        public long tenderPid() {
            return Long.parseLong(tenderFile().get("pid"));
        }

        public long tenderStartTicks() {
            return Long.parseLong(tenderFile().get("start_ticks"));
        }

        /** True while the recorded tender runs (same pid and start time, not a zombie). */
        public boolean tenderAlive() {
            return processAlive(tenderPid(), tenderStartTicks());
        }

        /** The supervisor's {@code status} file (written when the tender has ended), if any. */
        public Optional<Map<String, String>> status() {
            Path status = path.resolve("status");
            return Files.exists(status) ? Optional.of(keyValues(status)) : Optional.empty();
        }
    }

    private final Path dir;
    private final ScratchDir tmp;
    private final Mode mode;
    private volatile GroupNetworking groupNetworking;
    private volatile boolean stopped;
    private volatile String finalLogTail;

    private NomadAgent(Path dir, ScratchDir tmp, Mode mode) {
        this.dir = dir;
        this.tmp = tmp;
        this.mode = mode;
    }

    private static NomadAgent create(Mode mode) throws IOException {
        Path dir = newRunDir();
        try {
            return new NomadAgent(dir, ScratchDir.create("mirage-it-tmp-"), mode);
        } catch (IOException | RuntimeException e) {
            ScratchDir.delete(dir);
            throw e;
        }
    }

    // --- start / stop -------------------------------------------------------------

    /** Starts an agent with {@code plugin-config/test.hcl} and waits until the mirage driver is fingerprinted. */
    public static NomadAgent start(Mode mode) throws IOException, InterruptedException {
        return start(mode, TestEnv.repo().resolve("plugin-config/test.hcl"));
    }

    public static NomadAgent start(Mode mode, Path pluginConfig) throws IOException, InterruptedException {
        return start(mode, pluginConfig, TestEnv.launcher());
    }

    /** As {@link #start(Mode, Path)} with another plugin executable in plugin_dir (e.g. an unpacked release). */
    public static NomadAgent start(Mode mode, Path pluginConfig, Path plugin) throws IOException, InterruptedException {
        return startWith(mode, startArgs(mode, pluginConfig, plugin), null);
    }

    /** As {@link #start(Mode, Path, Path)}, set up for Nomad's group networking. */
    public static NomadAgent start(Mode mode, Path pluginConfig, Path plugin, GroupNetworking network)
            throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(startArgs(mode, pluginConfig, plugin));
        args.addAll(network.args());
        return startWith(mode, args, network);
    }

    /**
     * An agent without the mirage plugin (Nomad's built-in drivers only, raw_exec enabled in both
     * modes), set up for Nomad's group networking; waits until the node is ready.
     */
    public static NomadAgent startWithoutPlugin(Mode mode, GroupNetworking network)
            throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("--no-plugin", modeArg(mode)));
        args.addAll(network.args());
        return startWith(mode, args, network);
    }

    /** Starts an agent with {@code dev-agent.sh start DIR ARGS}. */
    private static NomadAgent startWith(Mode mode, List<String> args, GroupNetworking network)
            throws IOException, InterruptedException {
        checkRoot();
        NomadAgent agent = create(mode);
        agent.groupNetworking = network;
        List<String> argv = new ArrayList<>(List.of("start", agent.dir.toString()));
        argv.addAll(args);
        Result result;
        try {
            result = agent.script(argv, COMMAND_TIMEOUT.multipliedBy(2));
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            agent.close();
            throw e;
        }
        if (!result.ok()) {
            String log = agent.logTail(LOG_TAIL_LINES);
            agent.close();
            throw new AssertionError("dev-agent.sh start failed: " + result + "\n-- agent.log (tail) --\n" + log);
        }
        return agent;
    }

    /**
     * Starts an agent that is expected not to come up. dev-agent.sh tears the run down on a failed
     * start but keeps DIR (agent.log); this returns its result and the whole log, then removes DIR.
     */
    public static FailedStart startExpectingFailure(Mode mode, Path pluginConfig)
            throws IOException, InterruptedException {
        checkRoot();
        NomadAgent agent = create(mode);
        try {
            List<String> argv = new ArrayList<>(List.of("start", agent.dir.toString()));
            argv.addAll(startArgs(mode, pluginConfig, TestEnv.launcher()));
            Result result = agent.script(argv, COMMAND_TIMEOUT.multipliedBy(2));
            Path log = agent.dir.resolve("agent.log");
            String text = Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
            Matcher ns = Pattern.compile("creating network namespace (mirage-[0-9a-f]+)").matcher(result.stderr());
            return new FailedStart(result, text, ns.find() ? Optional.of(ns.group(1)) : Optional.empty());
        } finally {
            agent.close();
        }
    }

    /** The outcome of {@link #startExpectingFailure}. */
    public record FailedStart(Result result, String agentLog, Optional<String> netns) {
    }

    private static List<String> startArgs(Mode mode, Path pluginConfig, Path plugin) {
        return List.of("--plugin", plugin.toString(), "--config", pluginConfig.toString(), modeArg(mode));
    }

    private static String modeArg(Mode mode) {
        return mode == Mode.PERSISTENT ? "--persistent" : "--dev";
    }

    private static Path newRunDir() throws IOException {
        Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir", "/tmp")), "mirage-it-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        return dir;
    }

    private static void checkRoot() throws IOException, InterruptedException {
        Result id = run(List.of("id", "-u"), Duration.ofSeconds(10));
        if (!id.stdout().strip().equals("0")) {
            throw new AssertionError("the Nomad agent tests need root (network namespaces, Nomad client)");
        }
    }

    /** `dev-agent.sh restart DIR`: stops the agent process only and starts it again (tasks keep running). */
    public void restart() throws IOException, InterruptedException {
        Result result = script(List.of("restart", dir.toString()), COMMAND_TIMEOUT.multipliedBy(2));
        if (!result.ok()) {
            throw new AssertionError("dev-agent.sh restart failed: " + result);
        }
    }

    /**
     * Kills the agent process with SIGKILL (the agent alone, not its process group: the plugins and
     * tasks it launched keep running, as after a crash) and waits until it is gone. DIR, the data_dir
     * with the client's state and the namespace stay; {@link #restart()} starts the agent again on them.
     * Returns the killed agent's PID.
     */
    public long crash() throws IOException, InterruptedException {
        long pid = agentPid();
        if (!processAlive(pid, -1) || !cmdline(pid).contains("-config " + dir.resolve("agent.hcl"))) {
            throw new AssertionError("the agent (PID " + pid + ") is not running");
        }
        signal(pid, "KILL");
        await("the killed agent (PID " + pid + ") to be gone", Duration.ofSeconds(30),
                () -> !processAlive(pid, -1));
        return pid;
    }

    /** `dev-agent.sh stop DIR`: stops the agent, kills what is left in its namespace, removes DIR. */
    public void stop() throws IOException, InterruptedException {
        if (stopped) {
            return;
        }
        finalLogTail = logTail(LOG_TAIL_LINES);
        Result result = script(List.of("stop", dir.toString()), COMMAND_TIMEOUT.multipliedBy(2));
        stopped = true;
        if (!result.ok()) {
            throw new AssertionError("dev-agent.sh stop failed: " + result);
        }
    }

    @Override
    public void close() throws IOException, InterruptedException {
        try {
            stop();
        } finally {
            tmp.close();
        }
    }

    // --- commands -------------------------------------------------------------------

    public Path dir() {
        return dir;
    }

    public Mode mode() {
        return mode;
    }

    /** The group networking set-up this agent was started with, if any. */
    public Optional<GroupNetworking> groupNetworking() {
        return Optional.ofNullable(groupNetworking);
    }

    /**
     * Joins another network namespace (one the test created, e.g. a {@link Netns}) to the node's lab
     * bridge of an agent started with {@link GroupNetworking}: a veth pair made inside {@code netns},
     * whose end {@code peerIf} gets {@code peerCidr} there and whose other end, {@code labPort}, is moved
     * into the agent's namespace and attached to {@value GroupNetworking#LAB_BRIDGE}. Deleting
     * {@code netns} deletes the pair.
     */
    public void joinLab(String netns, String peerIf, String peerCidr, String labPort)
            throws IOException, InterruptedException {
        if (groupNetworking == null) {
            throw new IllegalStateException("this agent has no lab bridge (started without GroupNetworking)");
        }
        String agentNs = netns();
        for (List<String> argv : List.of(
                List.of("ip", "-n", netns, "link", "add", peerIf, "type", "veth", "peer", "name", labPort,
                        "netns", agentNs),
                List.of("ip", "-n", netns, "addr", "add", peerCidr, "dev", peerIf),
                List.of("ip", "-n", netns, "link", "set", peerIf, "up"),
                List.of("ip", "-n", agentNs, "link", "set", labPort, "master", GroupNetworking.LAB_BRIDGE, "up"))) {
            Result result = run(argv, Duration.ofSeconds(10));
            if (!result.ok()) {
                throw new AssertionError("joining " + netns + " to the lab bridge of " + agentNs + " failed: "
                        + result);
            }
        }
    }

    public Path logFile() {
        return dir.resolve("agent.log");
    }

    /** Runs {@code nomad ARGS} in the agent's namespace; its stdout. Fails unless it exits 0. */
    public String nomad(String... args) throws IOException, InterruptedException {
        Result result = tryNomad(args);
        if (!result.ok()) {
            throw new AssertionError("nomad command failed: " + result);
        }
        return result.stdout();
    }

    /** Runs {@code nomad ARGS} in the agent's namespace, whatever its exit status. */
    public Result tryNomad(String... args) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of("exec", dir.toString(), "--", "nomad"));
        argv.addAll(Arrays.asList(args));
        return script(argv, COMMAND_TIMEOUT);
    }

    /**
     * Runs any command in the agent's network namespace ({@code dev-agent.sh exec DIR -- ARGV}),
     * whatever its exit status.
     */
    public Result exec(String... argv) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("exec", dir.toString(), "--"));
        args.addAll(Arrays.asList(argv));
        return script(args, COMMAND_TIMEOUT);
    }

    /** {@link #exec} that fails unless the command exits 0; its stdout. */
    public String execOk(String... argv) throws IOException, InterruptedException {
        Result result = exec(argv);
        if (!result.ok()) {
            throw new AssertionError("command in the agent's namespace failed: " + result);
        }
        return result.stdout();
    }

    /** {@code nomad ARGS} parsed as JSON (pass {@code -json} among the arguments). */
    public JsonNode json(String... args) throws IOException, InterruptedException {
        String out = nomad(args);
        try {
            return JSON.readTree(out);
        } catch (IOException e) {
            throw new AssertionError("nomad " + String.join(" ", args) + " printed no JSON: " + out, e);
        }
    }

    /** {@code nomad job run -detach -var K=V... FILE}. */
    public void runJob(Path jobFile, Map<String, String> vars) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("job", "run", "-detach"));
        vars.forEach((k, v) -> args.addAll(List.of("-var", k + "=" + v)));
        args.add(jobFile.toString());
        nomad(args.toArray(String[]::new));
    }

    /** The node's own status ({@code nomad node status -self -json}). */
    public JsonNode selfNode() throws IOException, InterruptedException {
        return json("node", "status", "-self", "-json");
    }

    /** The allocations of a job (list stubs, with TaskStates). */
    public List<JsonNode> allocs(String job) throws IOException, InterruptedException {
        List<JsonNode> list = new ArrayList<>();
        json("job", "allocs", "-json", job).forEach(list::add);
        return list;
    }

    /** The full allocation. */
    public JsonNode alloc(String allocId) throws IOException, InterruptedException {
        return json("alloc", "status", "-json", allocId);
    }

    /** The task's stdout so far ({@code nomad alloc logs ALLOC TASK}). */
    public String logs(String allocId, String task) throws IOException, InterruptedException {
        return nomad("alloc", "logs", allocId, task);
    }

    /** Polls the job's allocations until one matches; that allocation (a list stub). */
    public JsonNode awaitAllocStatus(String job, Predicate<JsonNode> predicate, Duration timeout)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<JsonNode> last = List.of();
        while (true) {
            Result result = tryNomad("job", "allocs", "-json", job);
            if (result.ok()) {
                last = new ArrayList<>();
                JSON.readTree(result.stdout()).forEach(last::add);
                for (JsonNode alloc : last) {
                    if (predicate.test(alloc)) {
                        return alloc;
                    }
                }
            }
            if (System.nanoTime() > deadline) {
                StringBuilder seen = new StringBuilder();
                last.forEach(a -> seen.append(describe(a)));
                throw new AssertionError("no allocation of job " + job + " reached the awaited state within "
                        + timeout.toSeconds() + " s; last seen:\n" + (seen.isEmpty() ? "(none)" : seen));
            }
            Thread.sleep(POLL.toMillis());
        }
    }

    /** Polls {@code condition} until it holds (bounded by {@code timeout}). */
    public static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        await(what, timeout, condition, () -> "");
    }

    public static void await(String what, Duration timeout, BooleanSupplier condition, Supplier<String> detail)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                String more = detail.get();
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what
                        + (more.isEmpty() ? "" : "\n" + more));
            }
            Thread.sleep(POLL.toMillis());
        }
    }

    // --- allocation helpers -------------------------------------------------------------

    public static String clientStatus(JsonNode alloc) {
        return alloc.path("ClientStatus").asText();
    }

    public static JsonNode taskState(JsonNode alloc, String task) {
        return alloc.path("TaskStates").path(task);
    }

    public static List<JsonNode> events(JsonNode alloc, String task) {
        List<JsonNode> events = new ArrayList<>();
        taskState(alloc, task).path("Events").forEach(events::add);
        return events;
    }

    public static List<JsonNode> events(JsonNode alloc, String task, String type) {
        return events(alloc, task).stream().filter(e -> type.equals(e.path("Type").asText())).toList();
    }

    /** True once the allocation's task runs. */
    public static Predicate<JsonNode> taskRunning(String task) {
        return a -> clientStatus(a).equals("running") && taskState(a, task).path("State").asText().equals("running");
    }

    /** True once the allocation reached a terminal client status. */
    public static Predicate<JsonNode> terminal() {
        return a -> Stream.of("complete", "failed", "lost").anyMatch(clientStatus(a)::equals);
    }

    /** One line per task event: type, message and details, for assertion messages. */
    public static String describe(JsonNode alloc) {
        StringBuilder out = new StringBuilder();
        out.append("alloc ").append(alloc.path("ID").asText()).append(" client status ")
                .append(clientStatus(alloc)).append('\n');
        alloc.path("TaskStates").properties().forEach(task -> {
            JsonNode state = task.getValue();
            out.append("  task ").append(task.getKey()).append(": state ").append(state.path("State").asText())
                    .append(", failed ").append(state.path("Failed").asBoolean())
                    .append(", restarts ").append(state.path("Restarts").asInt()).append('\n');
            state.path("Events").forEach(e -> out.append("    ").append(e.path("Type").asText()).append(": ")
                    .append(e.path("DisplayMessage").asText()).append(' ').append(e.path("Details")).append('\n'));
        });
        return out.toString();
    }

    // --- processes and the plugin's run directories ----------------------------------------

    /** The variables of DIR/agent.env (values unquoted only when plain, which the ones used here are). */
    public Map<String, String> env() {
        return keyValues(dir.resolve("agent.env"));
    }

    public long agentPid() {
        return Long.parseLong(env().get("MIRAGE_AGENT_PID"));
    }

    public String netns() {
        return env().get("MIRAGE_AGENT_NETNS");
    }

    /** PIDs of the processes in the agent's network namespace ({@code ip netns pids}). */
    public List<Long> netnsPids() throws IOException, InterruptedException {
        Result result = run(List.of("ip", "netns", "pids", netns()), Duration.ofSeconds(10));
        if (!result.ok()) {
            throw new AssertionError("ip netns pids failed: " + result);
        }
        return result.stdout().lines().map(String::strip).filter(s -> !s.isEmpty()).map(Long::parseLong).toList();
    }

    /**
     * The PID of the mirage plugin: the plugin process (see {@link #pluginPids()}) in the agent's
     * namespace whose parent is the agent; empty if there is none (yet).
     */
    public OptionalLong pluginPid() throws IOException, InterruptedException {
        long agent = agentPid();
        for (long pid : netnsPids()) {
            if (parentPid(pid) == agent && isPluginProcess(pid)) {
                return OptionalLong.of(pid);
            }
        }
        return OptionalLong.empty();
    }

    /**
     * PIDs of every mirage plugin process in the agent's namespace, whatever its parent (a plugin
     * orphaned by a killed agent has none of the agent's).
     */
    public List<Long> pluginPids() throws IOException, InterruptedException {
        List<Long> pids = new ArrayList<>();
        for (long pid : netnsPids()) {
            if (isPluginProcess(pid)) {
                pids.add(pid);
            }
        }
        return pids;
    }

    /**
     * True if PID is a mirage plugin: the plugin's Java runtime running the plugin's jar. Merely naming
     * nomad-driver-mirage is not enough: Nomad's logmon processes (the agent's children too) run the
     * Nomad binary from /var/cache/nomad-driver-mirage.
     */
    private static boolean isPluginProcess(long pid) {
        String cmdline = cmdline(pid);
        return cmdline.contains("/runtime/bin/java ") && cmdline.matches(".* -jar \\S*nomad-driver-mirage[^ ]*\\.jar.*");
    }

    /** Waits until a plugin process other than {@code oldPid} runs; its PID. */
    public long awaitNewPluginPid(long oldPid, Duration timeout) throws InterruptedException {
        long[] found = {-1};
        await("a new plugin process (the killed one was " + oldPid + ")", timeout, () -> {
            try {
                OptionalLong pid = pluginPid();
                if (pid.isPresent() && pid.getAsLong() != oldPid) {
                    found[0] = pid.getAsLong();
                    return true;
                }
                return false;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        });
        return found[0];
    }

    /** The plugin's run directory of the allocation's task ({@code state_dir/tasks/ALLOC.TASK.*}), if present. */
    public Optional<RunDir> runDir(String allocId, String task) throws IOException {
        Path tasks = dir.resolve("mirage-state/tasks");
        if (!Files.isDirectory(tasks)) {
            return Optional.empty();
        }
        try (Stream<Path> entries = Files.list(tasks)) {
            return entries.filter(p -> p.getFileName().toString().startsWith(allocId + "." + task + "."))
                    .findFirst().map(RunDir::new);
        }
    }

    /** Sends a signal with kill(1) (for SIGSTOP/SIGCONT, which the JDK cannot send). */
    public static void signal(long pid, String signal) throws IOException, InterruptedException {
        Result result = run(List.of("kill", "-" + signal, Long.toString(pid)), Duration.ofSeconds(10));
        if (!result.ok()) {
            throw new AssertionError("kill -" + signal + " " + pid + " failed: " + result);
        }
    }

    /** True while PID runs, is no zombie, and (if {@code startTicks} >= 0) started at that time. */
    public static boolean processAlive(long pid, long startTicks) {
        String[] stat = stat(pid);
        if (stat == null || stat[0].equals("Z")) {
            return false;
        }
        return startTicks < 0 || Long.parseLong(stat[19]) == startTicks;
    }

    public static long parentPid(long pid) {
        String[] stat = stat(pid);
        return stat == null ? -1 : Long.parseLong(stat[1]);
    }

    /** Whether the process is the supervisor service ({@code mirage-supervisor --serve}) of one of these live plugins. */
    public static boolean isServiceOf(long pid, java.util.Collection<Long> pluginPids) {
        String[] stat = stat(pid);
        return cmdline(pid).endsWith("--serve ") && stat != null && pluginPids.contains(Long.parseLong(stat[1]));
    }

    /** Whether the process is the supervisor service of a live mirage plugin (its parent). */
    public static boolean isServiceOfAPlugin(long pid) {
        String[] stat = stat(pid);
        return stat != null && isServiceOf(pid, List.of(Long.parseLong(stat[1])))
                && isPluginProcess(Long.parseLong(stat[1]));
    }

    public static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                    StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    /** Fields of /proc/PID/stat after the command name: [0] = state, [1] = ppid, [19] = starttime. */
    private static String[] stat(long pid) {
        try {
            String line = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return line.substring(line.lastIndexOf(')') + 2).strip().split(" ");
        } catch (IOException e) {
            return null;
        }
    }

    private static Map<String, String> keyValues(Path file) {
        Map<String, String> values = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                int eq = line.indexOf('=');
                if (!line.startsWith("#") && eq > 0) {
                    values.put(line.substring(0, eq).strip(), line.substring(eq + 1).strip());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        return values;
    }

    // --- logs -----------------------------------------------------------------------------

    /** Current size of agent.log, to look only at what is logged after this point. */
    public long logSize() throws IOException {
        return Files.exists(logFile()) ? Files.size(logFile()) : 0;
    }

    /** agent.log from byte offset {@code from}. */
    public String logSince(long from) throws IOException {
        byte[] all = Files.exists(logFile()) ? Files.readAllBytes(logFile()) : new byte[0];
        return new String(all, (int) Math.min(from, all.length), (int) Math.max(0, all.length - from),
                StandardCharsets.UTF_8);
    }

    /** The last {@code lines} lines of agent.log (or, after stop, those saved before DIR was removed). */
    public String logTail(int lines) {
        if (stopped && finalLogTail != null) {
            return finalLogTail;
        }
        try {
            if (!Files.exists(logFile())) {
                return "(no agent.log)";
            }
            List<String> all = Files.readAllLines(logFile(), StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(cannot read agent.log: " + e + ")";
        }
    }

    // --- process running ----------------------------------------------------------------------

    /** Runs dev-agent.sh ARGS with this agent's TMPDIR. */
    private Result script(List<String> args, Duration timeout) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>();
        argv.add(TestEnv.devAgentScript().toString());
        argv.addAll(args);
        long t0 = System.nanoTime();
        Result result = run(argv, timeout, Map.of("TMPDIR", tmp.toString()));
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (!args.get(0).equals("exec")) {
            System.err.printf("NomadAgent: dev-agent.sh %s %s: exit %d after %.1f s%n", args.get(0), args.get(1),
                    result.exitCode(), seconds);
            if (seconds > 10) {
                System.err.print(result.stderr().indent(4));
            }
        }
        return result;
    }

    /** Runs a command (stdin from /dev/null), collecting stdout and stderr; kills it after {@code timeout}. */
    public static Result run(List<String> argv, Duration timeout) throws IOException, InterruptedException {
        return run(argv, timeout, Map.of());
    }

    /** As {@link #run(List, Duration)} with {@code env} added to the environment. */
    public static Result run(List<String> argv, Duration timeout, Map<String, String> env)
            throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(argv);
        builder.environment().putAll(env);
        builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process process = builder.start();
        CompletableFuture<String> out = drain(process.getInputStream());
        CompletableFuture<String> err = drain(process.getErrorStream());
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("`" + String.join(" ", argv) + "` did not finish within " + timeout.toSeconds()
                    + " s; stderr so far:\n" + err.getNow(""));
        }
        return new Result(argv, process.exitValue(), out.join(), err.join());
    }

    private static CompletableFuture<String> drain(InputStream in) {
        CompletableFuture<String> text = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (in) {
                in.transferTo(bytes);
            } catch (IOException e) {
                // the process went away; keep what was read
            }
            text.complete(bytes.toString(StandardCharsets.UTF_8));
        });
        return text;
    }

    // --- JUnit support --------------------------------------------------------------------------

    /**
     * Starts agents for a test class and stops them: those started while a test method runs after that
     * test, the others (from {@code @BeforeAll}) after the class. A failing test's message gets the tail
     * of each of its agents' logs. Register as a static field with {@code @RegisterExtension}.
     */
    public static final class Agents implements BeforeEachCallback, AfterEachCallback, AfterAllCallback,
            TestExecutionExceptionHandler, LifecycleMethodExecutionExceptionHandler {
        private final List<NomadAgent> classAgents = new ArrayList<>();
        private final List<NomadAgent> testAgents = new ArrayList<>();
        private volatile boolean inTest;

        public NomadAgent start(Mode mode) throws IOException, InterruptedException {
            return track(NomadAgent.start(mode));
        }

        public NomadAgent start(Mode mode, Path pluginConfig) throws IOException, InterruptedException {
            return track(NomadAgent.start(mode, pluginConfig));
        }

        public NomadAgent start(Mode mode, Path pluginConfig, Path plugin) throws IOException, InterruptedException {
            return track(NomadAgent.start(mode, pluginConfig, plugin));
        }

        public NomadAgent start(Mode mode, Path pluginConfig, Path plugin, GroupNetworking network)
                throws IOException, InterruptedException {
            return track(NomadAgent.start(mode, pluginConfig, plugin, network));
        }

        public NomadAgent startWithoutPlugin(Mode mode, GroupNetworking network)
                throws IOException, InterruptedException {
            return track(NomadAgent.startWithoutPlugin(mode, network));
        }

        private synchronized NomadAgent track(NomadAgent agent) {
            (inTest ? testAgents : classAgents).add(agent);
            return agent;
        }

        @Override
        public void beforeEach(ExtensionContext context) {
            inTest = true;
        }

        @Override
        public void afterEach(ExtensionContext context) throws Exception {
            inTest = false;
            stopAll(testAgents);
        }

        @Override
        public void afterAll(ExtensionContext context) throws Exception {
            stopAll(classAgents);
        }

        @Override
        public void handleTestExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
            throw withLogs(throwable);
        }

        @Override
        public void handleBeforeAllMethodExecutionException(ExtensionContext context, Throwable throwable)
                throws Throwable {
            throw withLogs(throwable);
        }

        @Override
        public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable throwable)
                throws Throwable {
            throw withLogs(throwable);
        }

        private synchronized Throwable withLogs(Throwable failure) {
            if (failure instanceof TestAbortedException) {
                return failure;
            }
            List<NomadAgent> agents = new ArrayList<>(testAgents);
            agents.addAll(classAgents);
            if (agents.isEmpty()) {
                return failure;
            }
            StringBuilder message = new StringBuilder(
                    failure instanceof AssertionError ? String.valueOf(failure.getMessage()) : failure.toString());
            for (NomadAgent agent : agents) {
                message.append("\n---- last ").append(LOG_TAIL_LINES).append(" lines of ").append(agent.logFile())
                        .append(" ----\n").append(agent.logTail(LOG_TAIL_LINES)).append("\n---- end of log ----");
            }
            AssertionError error = new AssertionError(message.toString(), failure);
            error.setStackTrace(failure.getStackTrace());
            return error;
        }

        private static void stopAll(List<NomadAgent> agents) throws Exception {
            Exception first = null;
            synchronized (agents) {
                for (NomadAgent agent : agents) {
                    try {
                        agent.close();
                    } catch (Exception | AssertionError e) {
                        Exception wrapped = e instanceof Exception ex ? ex : new Exception(e);
                        if (first == null) {
                            first = wrapped;
                        } else {
                            first.addSuppressed(wrapped);
                        }
                    }
                }
                agents.clear();
            }
            if (first != null) {
                throw first;
            }
        }
    }
}
