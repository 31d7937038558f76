package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.List;
import java.util.Optional;
import nomadmirage.config.PluginConfig;
import nomadmirage.driver.harness.FakeTender;
import nomadmirage.network.DeviceRequest;
import nomadmirage.network.TapNames;
import nomadmirage.proc.Signals;
import org.junit.jupiter.api.Test;

/**
 * Nomad retries StartTask with the same task id when the plugin died before answering. Whatever
 * the cut-short attempt left — run directory, live tender, attached network — is removed, and the
 * retry starts afresh.
 */
class RetriedStartTest extends InProcessPluginTest {
    private List<String> hostSteps() {
        return p.journal.matching("network.", "supervisor.", "signal ", "exit ");
    }

    /** The plugin died after launching but before recording the task (so before answering Nomad). */
    @Test
    void aRetryKillsTheOldTenderDetachesItsNetworkAndStartsAfresh() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001").net("service").newBlock("disk", "local/disk.img", 4096);
        p.start(t);
        FakeTender old = p.supervisor.last();
        Files.delete(t.runDir().resolve("task.json"));
        p.restartPlugin();
        p.journal.clear();

        p.start(t);
        FakeTender fresh = p.supervisor.last();

        assertNotEquals(old.pid(), fresh.pid());
        assertFalse(old.isAlive(), "the old tender was killed");
        assertEquals(List.of(Signals.SIGKILL), old.signals());
        assertTrue(fresh.isAlive());
        assertEquals(List.of(
                "supervisor.attach pid 1002 (alloc1.web.0001)",
                "signal pid 1002 (alloc1.web.0001) SIGKILL",
                "exit pid 1002 (alloc1.web.0001) by SIGKILL",
                "network.detach alloc1/web/0001",
                "network.attach alloc1/web/0001 [service]",
                "supervisor.launch alloc1.web.0001"), hostSteps());
        assertEquals(java.util.Set.of(TapNames.forDevice(t.id, "service")), p.networks.tapsOf(t.id));
        assertEquals("pid=" + fresh.pid(), Files.readString(t.runDir().resolve("fake-supervisor")).strip());
        assertTrue(Files.isRegularFile(t.runDir().resolve("task.json")));
        assertEquals(Long.toString(fresh.pid()), p.inspect(t.id).getDriver().getAttributesOrThrow("pid"));
        assertEquals(List.of(fresh), p.supervisor.alive());
    }

    /** The plugin died after the record was written but before Nomad got the answer: same clean-up. */
    @Test
    void aRetryAfterTheRecordWasWrittenIsCleanedUpAlike() {
        TaskFixture t = p.task("alloc1/web/0001").net("service");
        p.start(t);
        FakeTender old = p.supervisor.last();
        p.restartPlugin();

        p.start(t);
        assertFalse(old.isAlive());
        assertEquals(1, p.supervisor.alive().size());
        assertEquals(java.util.Set.of("alloc1/web/0001"), p.networks.attached());
        assertTrue(p.tracked(t.id));
    }

    /** The plugin died after attaching the network, before anything was launched. */
    @Test
    void aRetryAfterOnlyTheNetworkWasAttachedDetachesIt() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001").net("service");
        t.proto();
        Files.createDirectories(t.runDir());
        p.networks.attach(PluginConfig.defaults(), t.id, Optional.empty(),
                List.of(DeviceRequest.pooled("service", List.of())));
        p.journal.clear();

        p.start(t);
        assertEquals(List.of(
                "network.detach alloc1/web/0001",
                "network.attach alloc1/web/0001 [service]",
                "supervisor.launch alloc1.web.0001"), hostSteps());
        assertEquals(1, p.supervisor.alive().size());
    }

    /** An earlier attempt whose tender already ended: nothing to kill, the rest is cleared. */
    @Test
    void aRetryAfterTheOldTenderEndedNeedsNoKill() {
        TaskFixture t = p.task("alloc1/web/0001").net("service");
        p.start(t);
        FakeTender old = p.supervisor.last();
        p.restartPlugin();
        old.exit(1);
        assertTrue(old.awaitExit(java.time.Duration.ofSeconds(5)));
        p.journal.clear();

        p.start(t);
        assertEquals(List.of(), old.signals());
        assertEquals(List.of(
                "network.detach alloc1/web/0001",
                "network.attach alloc1/web/0001 [service]",
                "supervisor.launch alloc1.web.0001"), hostSteps());
    }

    /** Within one plugin instance a second start of a tracked id is refused and changes nothing. */
    @Test
    void aSecondStartOfATrackedTaskIsRefusedAndTouchesNothing() {
        TaskFixture t = p.task("alloc1/web/0001").net("service");
        p.start(t);
        FakeTender running = p.supervisor.last();
        p.journal.clear();
        var f = p.startFailure(t);
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, f.code());
        assertEquals(Boolean.FALSE, f.recoverable());
        assertEquals(List.of(), p.journal.entries());
        assertTrue(running.isAlive());
        assertEquals(List.of(), running.signals());
    }
}
