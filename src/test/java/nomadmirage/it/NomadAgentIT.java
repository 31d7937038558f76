package nomadmirage.it;

import static nomadmirage.testing.NomadAgent.clientStatus;
import static nomadmirage.testing.NomadAgent.describe;
import static nomadmirage.testing.NomadAgent.events;
import static nomadmirage.testing.NomadAgent.taskRunning;
import static nomadmirage.testing.NomadAgent.taskState;
import static nomadmirage.testing.NomadAgent.terminal;
import static nomadmirage.testing.TestEnv.image;
import static nomadmirage.testing.TestEnv.job;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import nomadmirage.testing.NomadAgent;
import nomadmirage.testing.NomadAgent.Mode;
import nomadmirage.testing.NomadAgent.RunDir;
import nomadmirage.testing.TaskScript;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin under a real Nomad agent (v1.6.3, scripts/build-nomad.sh), each agent in a network
 * namespace of its own (scripts/dev-agent.sh), with the stand-in Solo5 tenders and real qemu from
 * plugin-config/test.hcl. One agent serves the tests that do not disturb it; the tests that kill the
 * plugin or restart the agent get their own.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class NomadAgentIT {
    private static final Duration SHORT = Duration.ofSeconds(30);
    private static final Duration QEMU = Duration.ofSeconds(90);

    @RegisterExtension
    static final NomadAgent.Agents AGENTS = new NomadAgent.Agents();

    private static NomadAgent shared;

    @TempDir
    Path tmp;

    @BeforeAll
    static void startSharedAgent() throws Exception {
        shared = AGENTS.start(Mode.DEV);
    }

    @BeforeEach
    void announce(TestInfo test) {
        step(test.getDisplayName());
    }

    // --- (a) the plugin loads ---------------------------------------------------------------

    @Test
    void pluginLoadsHealthyAndReportsItsAttributes() throws Exception {
        JsonNode node = shared.selfNode();
        JsonNode driver = node.path("Drivers").path("mirage");
        assertTrue(driver.path("Detected").asBoolean(), "driver not detected: " + driver);
        assertTrue(driver.path("Healthy").asBoolean(), "driver not healthy: " + driver);

        JsonNode attributes = node.path("Attributes");
        for (String key : List.of("driver.mirage.version", "driver.mirage.targets", "driver.mirage.qemu.version",
                "driver.mirage.kvm", "driver.mirage.solo5_hvt.path")) {
            assertFalse(attributes.path(key).asText().isEmpty(), key + " missing from the node's attributes: "
                    + attributes);
        }
        assertEquals(System.getProperty("mirage.version", "0.1.0"), attributes.path("driver.mirage.version").asText());
        List<String> targets = List.of(attributes.path("driver.mirage.targets").asText().split(","));
        assertTrue(targets.containsAll(List.of("hvt", "spt", "virtio")), "targets: " + targets);
        assertEquals("true", attributes.path("driver.mirage.kvm").asText());
        assertEquals(TestEnv.fixtures().resolve("bin/solo5-hvt").toString(),
                attributes.path("driver.mirage.solo5_hvt.path").asText());
        assertTrue(attributes.path("driver.mirage.qemu.version").asText().matches("\\d+\\.\\d+.*"),
                "qemu version: " + attributes.path("driver.mirage.qemu.version"));
    }

    @Test
    void aBrokenPluginConfigKeepsTheAgentFromStartingAndNamesTheField() throws Exception {
        String config = Files.readString(TestEnv.repo().resolve("plugin-config/test.hcl"), StandardCharsets.UTF_8);
        String broken = config.contains("subnet")
                ? config.replaceAll("(?m)^(\\s*)subnet\\s*=.*$", "$1subnet = \"10.99.0.1/16\"")
                : config.replaceFirst("(?m)^(\\s*)(fingerprint_period\\s*=.*)$", "$1$2\n$1subnet = \"10.99.0.1/16\"");
        assertTrue(broken.contains("subnet = \"10.99.0.1/16\""), broken);
        Path file = tmp.resolve("broken.hcl");
        Files.writeString(file, broken, StandardCharsets.UTF_8);

        NomadAgent.FailedStart failed = NomadAgent.startExpectingFailure(Mode.DEV, file);

        assertNotEquals(0, failed.result().exitCode(), "the agent started with a broken plugin config:\n"
                + failed.result());
        String log = failed.agentLog();
        assertTrue(log.contains("error starting agent"), "agent.log says nothing of a failed start:\n" + log);
        assertTrue(Pattern.compile("subnet: \\\\?\"10\\.99\\.0\\.1/16\\\\?\" is not valid").matcher(log).find(),
                "agent.log does not name the bad field and value:\n" + log);
        assertTrue(failed.netns().isPresent(), "no namespace in the output: " + failed.result());
        assertFalse(Files.exists(Path.of("/run/netns", failed.netns().get())), "namespace left behind");
    }

    // --- (b) a batch hvt job ------------------------------------------------------------------

    @Test
    void hvtBatchJobReportsItsExitCodeAndConsole() throws Exception {
        shared.runJob(job("hvt-exit.nomad.hcl"), Map.of("image", image("standin-hello.hvt")));
        JsonNode alloc = shared.awaitAllocStatus("hvt-exit", terminal(), SHORT);
        String id = alloc.path("ID").asText();
        String detail = describe(alloc);

        assertEquals("failed", clientStatus(alloc), detail);
        assertEquals(0, taskState(alloc, "hello").path("Restarts").asInt(), detail);
        JsonNode terminated = single(events(alloc, "hello", "Terminated"), detail);
        assertEquals("3", terminated.path("Details").path("exit_code").asText(), detail);
        assertTrue(terminated.path("DisplayMessage").asText().contains("Exit Code: 3"), detail);
        assertTrue(events(alloc, "hello", "Driver").stream()
                .anyMatch(e -> e.path("DisplayMessage").asText().toLowerCase().contains("manifest")),
                "no Driver event mentions the manifest:\n" + detail);

        String logs = shared.logs(id, "hello");
        assertTrue(logs.contains("hello from hvt"), "console:\n" + logs);
        assertTrue(logs.contains("solo5_exit(3)"), "console:\n" + logs);
    }

    // --- (c) a virtio job under real qemu ---------------------------------------------------------

    @Test
    void virtioJobRunsUnderQemuAndCompletes() throws Exception {
        shared.runJob(job("virtio-hello.nomad.hcl"), Map.of("image", image("virtio-hello.virtio")));
        JsonNode alloc = shared.awaitAllocStatus("virtio-hello", terminal(), QEMU);
        String detail = describe(alloc);

        assertEquals("complete", clientStatus(alloc), detail);
        JsonNode terminated = single(events(alloc, "hello", "Terminated"), detail);
        assertEquals("0", terminated.path("Details").path("exit_code").asText(), detail);
        assertTrue(events(alloc, "hello", "Driver").stream()
                .anyMatch(e -> e.path("DisplayMessage").asText().contains("qemu")), detail);

        String logs = shared.logs(alloc.path("ID").asText(), "hello");
        assertTrue(logs.contains("Hello from a virtio unikernel"), "console:\n" + logs);
        assertTrue(logs.contains("cmdline: --greeting=hello --from=nomad"), "console:\n" + logs);
    }

    // --- (d) a bad task config -------------------------------------------------------------------

    @Test
    void aMissingBlockDeviceFailsTheTaskAsUnrecoverable() throws Exception {
        shared.runJob(job("block-missing.nomad.hcl"), Map.of("image", image("standin-hello-block.hvt")));
        JsonNode alloc = shared.awaitAllocStatus("block-missing", terminal(), SHORT);
        String detail = describe(alloc);

        assertEquals("failed", clientStatus(alloc), detail);
        JsonNode failure = single(events(alloc, "store", "Driver Failure"), detail);
        String text = failure.path("DisplayMessage").asText();
        assertTrue(text.contains("block"), "the failure does not name the block stanza: " + text);
        assertTrue(text.contains("storage"), "the failure does not name the device \"storage\": " + text);
        // The group's restart policy allows 3 attempts: none may be made for a bad config.
        assertEquals(0, taskState(alloc, "store").path("Restarts").asInt(), detail);
        assertTrue(events(alloc, "store", "Restarting").isEmpty(), detail);
        assertTrue(events(alloc, "store", "Started").isEmpty(), detail);
        JsonNode notRestarting = single(events(alloc, "store", "Not Restarting"), detail);
        assertTrue(notRestarting.path("DisplayMessage").asText().toLowerCase().contains("unrecoverable"), detail);
    }

    // --- (e) the plugin crashes -----------------------------------------------------------------------

    @Test
    void aKilledPluginIsRelaunchedAndRecoversTheRunningTask() throws Exception {
        NomadAgent agent = AGENTS.start(Mode.DEV);
        agent.runJob(job("hvt-service.nomad.hcl"), Map.of("image", image("standin-hello.hvt")));
        JsonNode alloc = agent.awaitAllocStatus("hvt-service", taskRunning("svc"), SHORT);
        String id = alloc.path("ID").asText();
        RunDir runDir = agent.runDir(id, "svc").orElseThrow(() -> new AssertionError("no run directory for " + id));
        long tender = runDir.tenderPid();
        long ticks = runDir.tenderStartTicks();
        assertTrue(runDir.tenderAlive(), "tender " + tender + " not running");
        long plugin = agent.pluginPid().orElseThrow(() -> new AssertionError("no plugin process found"));
        long logMark = agent.logSize();

        ProcessHandle.of(plugin).orElseThrow().destroyForcibly(); // SIGKILL
        long relaunched = agent.awaitNewPluginPid(plugin, SHORT);
        awaitRecovered(agent, id, logMark);

        assertEquals(tender, runDir.tenderPid(), "the run directory names another tender");
        assertTrue(NomadAgent.processAlive(tender, ticks), "tender " + tender + " died with the plugin");
        alloc = agent.awaitAllocStatus("hvt-service", a -> a.path("ID").asText().equals(id), SHORT);
        String detail = describe(alloc);
        assertTrue(taskRunning("svc").test(alloc), detail);
        assertEquals(0, taskState(alloc, "svc").path("Restarts").asInt(), detail);
        assertEquals(1, events(alloc, "svc", "Started").size(), detail);
        assertTrue(events(alloc, "svc", "Restarting").isEmpty(), detail);
        String console = agent.logs(id, "svc");
        assertTrue(console.contains("service-up"), "console:\n" + console);
        assertNotEquals(plugin, relaunched);

        // The relaunched plugin stops the task and, once the alloc is collected, removes its run directory.
        agent.nomad("job", "stop", "-detach", "hvt-service");
        alloc = agent.awaitAllocStatus("hvt-service", a -> a.path("ID").asText().equals(id) && terminal().test(a),
                SHORT);
        assertEquals("complete", clientStatus(alloc), describe(alloc));
        assertEquals("dead", taskState(alloc, "svc").path("State").asText(), describe(alloc));
        NomadAgent.await("tender " + tender + " to be gone", SHORT, () -> !NomadAgent.processAlive(tender, ticks));
        agent.nomad("system", "gc");
        NomadAgent.await("the run directory " + runDir.path() + " to be removed", SHORT,
                () -> !Files.exists(runDir.path()));
    }

    // --- (f) the agent restarts --------------------------------------------------------------------------

    @Test
    void aRunningTaskSurvivesAnAgentRestart() throws Exception {
        NomadAgent agent = AGENTS.start(Mode.PERSISTENT);
        agent.runJob(job("hvt-service.nomad.hcl"), Map.of("image", image("standin-hello.hvt")));
        JsonNode alloc = agent.awaitAllocStatus("hvt-service", taskRunning("svc"), SHORT);
        String id = alloc.path("ID").asText();
        RunDir runDir = agent.runDir(id, "svc").orElseThrow(() -> new AssertionError("no run directory for " + id));
        long tender = runDir.tenderPid();
        long ticks = runDir.tenderStartTicks();
        long agentBefore = agent.agentPid();
        long logMark = agent.logSize();

        step("restarting the agent");
        agent.restart();
        step("agent restarted");

        assertNotEquals(agentBefore, agent.agentPid(), "the agent was not restarted");
        awaitRecovered(agent, id, logMark);
        step("task recovered");
        assertEquals(tender, runDir.tenderPid(), "the run directory names another tender");
        assertTrue(NomadAgent.processAlive(tender, ticks), "tender " + tender + " died with the agent");
        alloc = agent.awaitAllocStatus("hvt-service", a -> a.path("ID").asText().equals(id), SHORT);
        String detail = describe(alloc);
        assertTrue(taskRunning("svc").test(alloc), detail);
        assertEquals(0, taskState(alloc, "svc").path("Restarts").asInt(), detail);
        assertEquals(1, events(alloc, "svc", "Started").size(), detail);
        assertTrue(events(alloc, "svc", "Restarting").isEmpty(), detail);
        assertEquals(1, agent.allocs("hvt-service").size(), "a second allocation was placed");

        step("stopping the job");
        agent.nomad("job", "stop", "-detach", "hvt-service");
        alloc = agent.awaitAllocStatus("hvt-service", a -> a.path("ID").asText().equals(id) && terminal().test(a),
                SHORT);
        step("alloc terminal");
        assertEquals("complete", clientStatus(alloc), describe(alloc));
        NomadAgent.await("tender " + tender + " to be gone", SHORT, () -> !NomadAgent.processAlive(tender, ticks));
    }

    // --- (g) the task exits while the plugin is down ---------------------------------------------------------

    @Test
    void aTaskThatExitsWhileThePluginIsDownReportsItsExitCode() throws Exception {
        NomadAgent agent = AGENTS.start(Mode.DEV);
        // The tender exits once this file exists, which the test creates while no plugin runs.
        TaskScript.readable(tmp);
        Path release = tmp.resolve("release-sleeper");
        agent.runJob(job("hvt-exit-on-release.nomad.hcl"),
                Map.of("image", image("standin-hello.hvt"), "release", release.toString()));
        JsonNode alloc = agent.awaitAllocStatus("hvt-exit-on-release", taskRunning("sleeper"), SHORT);
        String id = alloc.path("ID").asText();
        RunDir runDir = agent.runDir(id, "sleeper")
                .orElseThrow(() -> new AssertionError("no run directory for " + id));
        long plugin = agent.pluginPid().orElseThrow(() -> new AssertionError("no plugin process found"));
        long agentPid = agent.agentPid();

        // Nomad relaunches a dead plugin within a second. To have the tender end while no plugin runs at
        // all, the agent is paused (SIGSTOP) from before the kill until the tender's exit is on record.
        NomadAgent.signal(agentPid, "STOP");
        try {
            assertTrue(runDir.status().isEmpty(), "the task ended before it was released: " + runDir.status());
            ProcessHandle.of(plugin).orElseThrow().destroyForcibly(); // SIGKILL
            NomadAgent.await("the plugin to die", SHORT, () -> !NomadAgent.processAlive(plugin, -1));
            Files.createFile(release);
            NomadAgent.await("the tender's exit status in " + runDir.path(), SHORT, () -> runDir.status().isPresent());
        } finally {
            NomadAgent.signal(agentPid, "CONT");
        }
        Map<String, String> status = runDir.status().orElseThrow();
        assertEquals("4", status.get("exit_code"), "status file: " + status);

        agent.awaitNewPluginPid(plugin, SHORT);
        alloc = agent.awaitAllocStatus("hvt-exit-on-release", a -> a.path("ID").asText().equals(id) && terminal().test(a),
                SHORT);
        String detail = describe(alloc);
        assertEquals("failed", clientStatus(alloc), detail);
        JsonNode terminated = single(events(alloc, "sleeper", "Terminated"), detail);
        assertEquals("4", terminated.path("Details").path("exit_code").asText(), detail);
        assertTrue(terminated.path("DisplayMessage").asText().contains("Exit Code: 4"), detail);
        assertEquals(0, taskState(alloc, "sleeper").path("Restarts").asInt(), detail);
        assertEquals(1, events(alloc, "sleeper", "Started").size(), detail);
    }

    // --- helpers ------------------------------------------------------------------------------------------

    private static final long T0 = System.nanoTime();

    /** A progress line with the time since the class started (in the failsafe report's system-err). */
    private static void step(String what) {
        System.err.printf("NomadAgentIT: %6.1f s  %s%n", (System.nanoTime() - T0) / 1e9, what);
    }

    private static JsonNode single(List<JsonNode> events, String detail) {
        assertEquals(1, events.size(), "expected exactly one such event:\n" + detail);
        return events.get(0);
    }

    /**
     * Waits until the agent has recovered the allocation's task after a plugin or agent restart: the
     * agent's log (after {@code logMark}) records the recovery, by Nomad ("task successfully recovered
     * on driver") or by the plugin ("task recovered"), for that allocation.
     */
    private static void awaitRecovered(NomadAgent agent, String allocId, long logMark) throws InterruptedException {
        Pattern recovered = Pattern.compile("(task successfully recovered on driver|task recovered): .*"
                + Pattern.quote(allocId));
        NomadAgent.await("the task of alloc " + allocId + " to be recovered", SHORT, () -> {
            try {
                return agent.logSince(logMark).lines().anyMatch(l -> recovered.matcher(l).find());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }
}
