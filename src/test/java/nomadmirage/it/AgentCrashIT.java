package nomadmirage.it;

import static nomadmirage.testing.NomadAgent.clientStatus;
import static nomadmirage.testing.NomadAgent.describe;
import static nomadmirage.testing.NomadAgent.events;
import static nomadmirage.testing.NomadAgent.taskState;
import static nomadmirage.testing.NomadAgent.terminal;
import static nomadmirage.testing.TestEnv.image;
import static nomadmirage.testing.TestEnv.job;
import static nomadmirage.testing.Unchecked.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import nomadmirage.testing.NomadAgent;
import nomadmirage.testing.NomadAgent.Mode;
import nomadmirage.testing.NomadAgent.RunDir;
import nomadmirage.testing.TaskScript;
import nomadmirage.testing.TestEnv;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 10, item 4: the Nomad agent (v1.6.3, server and client in one persistent agent) is killed
 * with SIGKILL while 50 long-running tasks run, and started again on the same data_dir and config.
 * The tasks keep running with the same tenders and no restart, the restarted agent holds a live
 * handle to each of them through the plugin, and the tasks that ended while no agent ran report
 * their own exit codes (solo5_exit statuses and a tender killed by a signal).
 *
 * <p>What Nomad 1.6.3 does: the client keeps each driver plugin's go-plugin reattach config (pid and
 * socket) in its state database and clears it only when it shuts the plugin down itself. A plugin that
 * outlived the killed agent is therefore reattached, not relaunched: the same process serves the
 * restarted agent (SetConfig is not called again), answers RecoverTask from the tasks it still tracks
 * and has kept watching their tenders; its stderr went to the dead agent, so nothing it logs from then
 * on reaches the agent's log. When the plugin died too, the reattach fails ("failed to reattach to
 * plugin, starting new instance"), a new plugin is launched and recovers every task from its run
 * directory, including the exit status its supervisor recorded for a tender that ended meanwhile.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class AgentCrashIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String FLEET = "agent-crash-fleet";
    private static final String EXITS = "agent-crash-exits";
    private static final int ALLOCS = 10;
    private static final int TASKS_PER_ALLOC = 5;
    /** The batch groups that exit with a status of their own once released, and that status. */
    private static final Map<String, Integer> EXIT_CODES = Map.of("exit0", 0, "exit3", 3, "exit42", 42);
    /** The batch group whose tender the test kills with SIGKILL while the agent is down. */
    private static final String KILLED = "killed";
    private static final Duration START = Duration.ofSeconds(90);
    private static final Duration SHORT = Duration.ofSeconds(45);
    /**
     * The plugin's reconcile_delay: short, so that a relaunched plugin's first reconcile (which stops
     * the tender of every task nobody recovered) runs while the test watches.
     */
    private static final String RECONCILE_DELAY = "3s";

    @RegisterExtension
    static final NomadAgent.Agents AGENTS = new NomadAgent.Agents();

    @TempDir
    Path tmp;

    /** A task's tender as recorded in its run directory before the crash, and the task's uid. */
    private record Tender(String allocId, String task, RunDir runDir, long pid, long ticks, String uid) {
        boolean alive() {
            return NomadAgent.processAlive(pid, ticks);
        }

        @Override
        public String toString() {
            return allocId.substring(0, 8) + "/" + task + " (tender " + pid + ", uid " + uid + ")";
        }
    }

    /** What the crash takes down. */
    enum Crash {
        /** The agent alone: its plugin is orphaned and keeps running. */
        AGENT,
        /** The agent and then its plugin (e.g. an operator's kill -9 of both). */
        AGENT_AND_PLUGIN
    }

    @ParameterizedTest
    @EnumSource(Crash.class)
    void liveTasksSurviveASigkilledAgentAndTasksThatEndedMeanwhileReportTheirExitCodes(Crash crash)
            throws Exception {
        NomadAgent agent = AGENTS.start(Mode.PERSISTENT, pluginConfigWithOwnUids());
        TaskScript.readable(tmp); // the tenders run as task users and must see the release file
        Path release = tmp.resolve("release");
        String image = image("standin-hello.hvt");
        List<String> fleetTasks = IntStream.range(0, TASKS_PER_ALLOC).mapToObj(i -> "t" + i).toList();

        step("running " + ALLOCS * TASKS_PER_ALLOC + " long-running tasks and " + (EXIT_CODES.size() + 1)
                + " batch tasks");
        agent.runJob(job("agent-crash-fleet.nomad.hcl"), Map.of("image", image, "allocs", Integer.toString(ALLOCS),
                "tasks", Integer.toString(TASKS_PER_ALLOC)));
        agent.runJob(job("agent-crash-exits.nomad.hcl"), Map.of("image", image, "release", release.toString()));
        List<JsonNode> fleet = awaitAllocs(agent, FLEET, ALLOCS, allTasksRunning(fleetTasks), START);
        List<JsonNode> exits = awaitAllocs(agent, EXITS, EXIT_CODES.size() + 1, allTasksRunning(List.of("main")),
                START);
        step("all tasks running");
        // A task that restarted already would make the restart counts below meaningless.
        for (JsonNode alloc : fleet) {
            for (String task : fleetTasks) {
                assertEquals(0, taskState(alloc, task).path("Restarts").asInt(),
                        "a task restarted before the crash:\n" + describe(alloc));
            }
        }

        List<Tender> fleetTenders = new ArrayList<>();
        for (JsonNode alloc : fleet) {
            for (String task : fleetTasks) {
                fleetTenders.add(tender(agent, alloc, task));
            }
        }
        assertEquals(ALLOCS * TASKS_PER_ALLOC, fleetTenders.size());
        Map<String, Tender> exitTenders = new TreeMap<>(); // by group
        for (JsonNode alloc : exits) {
            exitTenders.put(alloc.path("TaskGroup").asText(), tender(agent, alloc, "main"));
        }
        List<Tender> allTenders = new ArrayList<>(fleetTenders);
        allTenders.addAll(exitTenders.values());
        List<Tender> notAlive = allTenders.stream().filter(t -> !t.alive()).toList();
        assertEquals(List.of(), notAlive, "tenders not running before the crash");
        long plugin = agent.pluginPid().orElseThrow(() -> new AssertionError("no plugin process found"));

        // --- the crash -------------------------------------------------------------------------------
        long killedAgent = agent.crash();
        step("agent " + killedAgent + " killed (SIGKILL)");
        assertTrue(NomadAgent.processAlive(plugin, -1), "the plugin " + plugin + " died with the agent");
        if (crash == Crash.AGENT_AND_PLUGIN) {
            NomadAgent.signal(plugin, "KILL");
            NomadAgent.await("the killed plugin " + plugin + " to be gone", SHORT,
                    () -> !NomadAgent.processAlive(plugin, -1));
            step("plugin " + plugin + " killed (SIGKILL)");
        }

        // While no agent runs: three tasks exit with statuses of their own, one tender is killed.
        Files.createFile(release);
        NomadAgent.signal(exitTenders.get(KILLED).pid(), "KILL");
        for (Map.Entry<String, Tender> e : exitTenders.entrySet()) {
            RunDir runDir = e.getValue().runDir();
            NomadAgent.await("the exit status of " + e.getKey() + "'s tender in " + runDir.path(), SHORT,
                    () -> runDir.status().isPresent());
        }
        for (Map.Entry<String, Integer> e : EXIT_CODES.entrySet()) {
            Map<String, String> status = exitTenders.get(e.getKey()).runDir().status().orElseThrow();
            assertEquals(Integer.toString(e.getValue()), status.get("exit_code"), e.getKey() + ": " + status);
        }
        Map<String, String> killedStatus = exitTenders.get(KILLED).runDir().status().orElseThrow();
        assertEquals("9", killedStatus.get("signal"), "killed: " + killedStatus);
        notAlive = fleetTenders.stream().filter(t -> !t.alive()).toList();
        assertEquals(List.of(), notAlive, "long-running tenders died while the agent was down");
        step("batch tasks ended while the agent was down");

        // --- the restart on the same data_dir and config -----------------------------------------------
        long restartedAt = System.currentTimeMillis();
        long logMark = agent.logSize();
        agent.restart();
        step("agent restarted (PID " + agent.agentPid() + ")");

        // The batch tasks can only end in the restarted agent through RecoverTask + WaitTask.
        exits = awaitAllocs(agent, EXITS, EXIT_CODES.size() + 1, terminal(), SHORT);
        step("batch allocations terminal");
        for (JsonNode alloc : exits) {
            String group = alloc.path("TaskGroup").asText();
            String detail = describe(alloc);
            JsonNode state = taskState(alloc, "main");
            List<JsonNode> terminated = events(alloc, "main", "Terminated");
            assertEquals(1, terminated.size(), group + ": expected one Terminated event\n" + detail);
            JsonNode details = terminated.get(0).path("Details");
            if (group.equals(KILLED)) {
                assertEquals("failed", clientStatus(alloc), detail);
                assertEquals("9", details.path("signal").asText(), detail);
                assertEquals("137", details.path("exit_code").asText(), detail);
            } else {
                int code = EXIT_CODES.get(group);
                assertEquals(Integer.toString(code), details.path("exit_code").asText(), detail);
                assertEquals("0", details.path("signal").asText(), detail);
                assertEquals(code == 0 ? "complete" : "failed", clientStatus(alloc), detail);
                assertEquals(code != 0, state.path("Failed").asBoolean(), detail);
            }
            assertEquals("dead", state.path("State").asText(), detail);
            assertEquals(0, state.path("Restarts").asInt(), detail);
            assertEquals(1, events(alloc, "main", "Started").size(), detail);
        }

        // The long-running tasks: the restarted agent holds a live handle to each (fresh stats through the
        // plugin), on the same tender, with no restart.
        awaitFreshStats(agent, fleet, fleetTasks, restartedAt);
        step("fresh stats of all " + fleetTenders.size() + " long-running tasks");
        if (crash == Crash.AGENT_AND_PLUGIN) {
            // The relaunched plugin's first reconcile must leave every task the agent recovered alone.
            NomadAgent.await("the relaunched plugin's first reconcile", SHORT, () -> quietly(
                    () -> agent.logSince(logMark)).contains("nomad-driver-mirage: reconcile done"));
            step("the relaunched plugin's first reconcile ran");
        }
        fleet = agent.allocs(FLEET);
        assertEquals(ALLOCS, fleet.size(), "allocations of " + FLEET + " after the restart:\n" + describeAll(fleet));
        for (JsonNode alloc : fleet) {
            String detail = describe(alloc);
            assertEquals("running", clientStatus(alloc), detail);
            for (String task : fleetTasks) {
                JsonNode state = taskState(alloc, task);
                assertEquals("running", state.path("State").asText(), detail);
                assertEquals(0, state.path("Restarts").asInt(), detail);
                assertEquals(1, events(alloc, task, "Started").size(), detail);
                assertTrue(events(alloc, task, "Restarting").isEmpty(), detail);
                assertTrue(events(alloc, task, "Terminated").isEmpty(), detail);
            }
        }
        for (Tender t : fleetTenders) {
            assertTrue(t.alive(), t + " is gone");
            assertEquals(t.pid(), t.runDir().tenderPid(), t + ": the run directory names another tender");
        }
        List<Long> plugins = agent.pluginPids();
        step("plugin processes after the restart: " + plugins + " (before: " + plugin + ")");
        String restartLog = agent.logSince(logMark);
        boolean reattachFailed = restartLog.contains("failed to reattach to plugin, starting new instance");
        if (crash == Crash.AGENT) {
            assertEquals(List.of(plugin), plugins, "Nomad 1.6.3 reattaches to the plugin that outlived the agent "
                    + "(its go-plugin reattach config is in the client state); plugin processes now: " + plugins);
            assertFalse(reattachFailed, "the restarted agent did not reattach to plugin " + plugin);
        } else {
            assertEquals(1, plugins.size(), "plugin processes after the restart: " + plugins);
            assertTrue(plugins.get(0) != plugin, "the killed plugin's pid is listed: " + plugins);
            assertTrue(reattachFailed, "the restarted agent did not try to reattach to the killed plugin");
            // The new plugin recovered every task from its run directory (its log reaches the agent's).
            List<String> notRecovered = allTenders.stream()
                    .filter(t -> !Pattern.compile("task recovered: .*task_id=" + Pattern.quote(t.allocId() + "/"
                            + t.task() + "/")).matcher(restartLog).find())
                    .map(Tender::toString).toList();
            assertEquals(List.of(), notRecovered, "tasks the relaunched plugin did not log as recovered");
        }

        // --- stop everything: nothing may be left --------------------------------------------------------
        agent.nomad("job", "stop", "-detach", FLEET);
        agent.nomad("job", "stop", "-detach", EXITS);
        awaitAllocs(agent, FLEET, ALLOCS, terminal(), SHORT);
        NomadAgent.await("every tender to be gone", SHORT, () -> allTenders.stream().noneMatch(Tender::alive),
                () -> "still running: " + allTenders.stream().filter(Tender::alive).toList());
        agent.nomad("system", "gc");
        Path tasksDir = agent.dir().resolve("mirage-state/tasks");
        NomadAgent.await("every run directory to be removed", SHORT, () -> runDirs(tasksDir).isEmpty(),
                () -> "left: " + runDirs(tasksDir));
        // Supervisors and tenders run in the agent's network namespace, as the plugin does.
        String tenders = TestEnv.fixtures().resolve("bin").toString();
        // The live plugin's supervisor service is its child, not a leftover; a killed plugin's must have ended.
        List<String> leftovers = agent.netnsPids().stream()
                .filter(pid -> !NomadAgent.isServiceOf(pid, plugins))
                .map(pid -> pid + ": " + NomadAgent.cmdline(pid))
                .filter(p -> p.contains("mirage-supervisor") || p.contains(tenders)).toList();
        assertEquals(List.of(), leftovers, "supervisors or tenders left in the agent's namespace");
        step("stopped; nothing left");
    }

    // --- helpers ------------------------------------------------------------------------------------

    private static final long T0 = System.nanoTime();

    private static void step(String what) {
        System.err.printf("AgentCrashIT: %6.1f s  %s%n", (System.nanoTime() - T0) / 1e9, what);
    }

    /**
     * plugin-config/test.hcl with a short reconcile_delay (the relaunched plugin's first reconcile runs
     * during the test) and per-task uids of this test's own: a plugin's supervisors end every
     * process of a uid they hand out (before the tender starts and after it ended), so any other plugin
     * on this machine handing out the same uids at the same time (another test's agent, with the default
     * 80000..89999) would kill these tasks' tenders, and their restarts would be blamed on the crash.
     */
    private Path pluginConfigWithOwnUids() throws IOException {
        String config = Files.readString(TestEnv.repo().resolve("plugin-config/test.hcl"));
        int min = 400_000 + ThreadLocalRandom.current().nextInt(5_000) * 100;
        String own = config.replaceFirst("(?m)^(\\s*)(fingerprint_period\\s*=.*)$",
                "$1$2\n$1reconcile_delay = \"" + RECONCILE_DELAY + "\"\n$1dynamic_user_min = " + min + "\n$1dynamic_user_max = " + (min + 99));
        assertTrue(own.contains("dynamic_user_min = " + min), "cannot place the uid range in:\n" + config);
        Path file = tmp.resolve("plugin-config.hcl");
        Files.writeString(file, own);
        return file;
    }

    private static Predicate<JsonNode> allTasksRunning(List<String> tasks) {
        return a -> clientStatus(a).equals("running")
                && tasks.stream().allMatch(t -> taskState(a, t).path("State").asText().equals("running"));
    }

    /** Polls the job's allocations until there are {@code count} and all match; them. */
    private static List<JsonNode> awaitAllocs(NomadAgent agent, String job, int count, Predicate<JsonNode> predicate,
            Duration timeout) throws InterruptedException {
        List<List<JsonNode>> last = new ArrayList<>(List.of(List.of()));
        NomadAgent.await(count + " allocations of " + job + " in the awaited state", timeout, () -> {
            NomadAgent.Result result = quietly(() -> agent.tryNomad("job", "allocs", "-json", job));
            if (!result.ok()) {
                return false;
            }
            List<JsonNode> allocs = new ArrayList<>();
            quietly(() -> JSON.readTree(result.stdout())).forEach(allocs::add);
            last.set(0, allocs);
            return allocs.size() == count && allocs.stream().allMatch(predicate);
        }, () -> "last seen:\n" + describeAll(last.get(0)));
        return last.get(0);
    }

    private static String describeAll(List<JsonNode> allocs) {
        return allocs.isEmpty() ? "(none)" : allocs.stream().map(NomadAgent::describe).collect(Collectors.joining());
    }

    private static Tender tender(NomadAgent agent, JsonNode alloc, String task) throws IOException {
        String id = alloc.path("ID").asText();
        RunDir runDir = agent.runDir(id, task)
                .orElseThrow(() -> new AssertionError("no run directory for " + id + "/" + task));
        Path uid = runDir.path().resolve("own-uid");
        return new Tender(id, task, runDir, runDir.tenderPid(), runDir.tenderStartTicks(),
                Files.exists(uid) ? Files.readString(uid).strip() : "?");
    }

    /**
     * Waits until the client's stats of every task of the allocations were sampled after
     * {@code sinceMillis}: the restarted agent's stats hook has a handle of each task and reads its
     * usage through the plugin.
     */
    private static void awaitFreshStats(NomadAgent agent, List<JsonNode> allocs, List<String> tasks,
            long sinceMillis) throws InterruptedException {
        Map<String, JsonNode> stats = new LinkedHashMap<>();
        long sinceNanos = sinceMillis * 1_000_000L;
        NomadAgent.await("fresh stats of every long-running task", SHORT, () -> {
            for (JsonNode alloc : allocs) {
                String id = alloc.path("ID").asText();
                NomadAgent.Result result = quietly(() -> agent.tryNomad("operator", "api",
                        "/v1/client/allocation/" + id + "/stats"));
                if (!result.ok()) {
                    stats.put(id, JSON.getNodeFactory().textNode(result.toString()));
                    return false;
                }
                JsonNode usage = quietly(() -> JSON.readTree(result.stdout()));
                stats.put(id, usage);
                for (String task : tasks) {
                    if (usage.path("Tasks").path(task).path("Timestamp").asLong() <= sinceNanos) {
                        return false;
                    }
                }
            }
            return true;
        }, () -> "last stats: " + stats);
    }

    private static List<Path> runDirs(Path tasksDir) {
        if (!Files.isDirectory(tasksDir)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(tasksDir)) {
            return entries.toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
