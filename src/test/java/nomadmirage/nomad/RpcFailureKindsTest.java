package nomadmirage.nomad;

import static nomadmirage.nomad.InProcessPlugin.failure;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.util.Map;
import nomadmirage.driver.DriverState;
import nomadmirage.driver.HostFailureException;
import nomadmirage.driver.InvalidTaskException;
import nomadmirage.driver.harness.FakeTender;
import nomadmirage.network.InvalidNetworkRequestException;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.proc.LaunchException;
import nomadmirage.proto.drivers.RecoverTaskRequest;
import nomadmirage.proto.drivers.StartTaskResponse;
import nomadmirage.proto.drivers.TaskHandle;
import nomadmirage.solo5.AbiTarget;
import org.junit.jupiter.api.Test;

/** Each kind of failure maps to its row of the error table: StartTask with Nomad's recoverable flag, every other RPC by code. */
class RpcFailureKindsTest extends InProcessPluginTest {
    private static final String INTERNAL_PREFIX = "internal error in the mirage driver: ";

    private void assertUnrecoverable(InProcessPlugin.StartFailure f) {
        assertEquals(Status.Code.FAILED_PRECONDITION, f.code(), f.message());
        assertEquals(Boolean.FALSE, f.recoverable(), f.message());
    }

    private void assertRecoverable(InProcessPlugin.StartFailure f) {
        assertEquals(Status.Code.FAILED_PRECONDITION, f.code(), f.message());
        assertEquals(Boolean.TRUE, f.recoverable(), f.message());
    }

    private void assertNothingLeft(TaskFixture t) {
        assertTrue(Files.notExists(t.runDir()), "run dir left: " + t.runDir());
        assertTrue(p.supervisor.alive().isEmpty(), "tender left: " + p.supervisor.alive());
        assertTrue(p.networks.attached().isEmpty(), "network left: " + p.networks.attached());
        assertTrue(!p.tracked(t.id));
    }

    @Test
    void aBadJobIsAnUnrecoverableStartFailureAndTouchesNothing() {
        TaskFixture badTender = p.task("alloc1/web/0001").config("tender", "solo5-hvt");
        var f = p.startFailure(badTender);
        assertUnrecoverable(f);
        assertTrue(f.message().startsWith("tender:"), f.message());

        TaskFixture unknownTender = p.task("alloc1/web/0002").config("tender", "firecracker");
        assertUnrecoverable(p.startFailure(unknownTender));

        TaskFixture missingBlock = p.task("alloc1/web/0003").device("disk", nomadmirage.solo5.DeviceType.BLOCK_BASIC);
        var block = p.startFailure(missingBlock);
        assertUnrecoverable(block);
        assertTrue(block.message().startsWith("block:"), block.message());

        p.host.kvm(false);
        var hvt = p.startFailure(p.task("alloc1/web/0004").target(AbiTarget.HVT));
        assertUnrecoverable(hvt);
        assertTrue(hvt.message().contains("/dev/kvm"), hvt.message());


        assertTrue(p.journal.matching("network.", "supervisor.").isEmpty(), p.journal.toString());
        for (String id : new String[] {"alloc1/web/0001", "alloc1/web/0002", "alloc1/web/0003", "alloc1/web/0004"}) {
            assertNothingLeft(p.task(id));
        }
    }

    @Test
    void anEmptyTaskIdIsABadRequestEverywhere() {
        StatusRuntimeException start = failure(() -> p.rpc().startTask(nomadmirage.proto.drivers.StartTaskRequest
                .newBuilder().setTask(p.task("alloc1/web/0001").proto().toBuilder().setId("")).build()));
        InProcessPlugin.StartFailure f = p.startFailureOf(start);
        assertUnrecoverable(f);
        assertTrue(f.message().startsWith("task_id: empty"), f.message());
        assertEquals(Status.Code.INVALID_ARGUMENT, InProcessPlugin.code(() -> p.inspect("")));
    }

    @Test
    void hostFailuresAreRecoverableStartFailures() {
        p.supervisor.failNextLaunch(new LaunchException("cannot start tender: Permission denied (errno 13)", 13, null));
        var launch = p.startFailure(p.task("alloc1/web/0001"));
        assertRecoverable(launch);
        assertTrue(launch.message().startsWith("could not start solo5-spt: "), launch.message());

        p.users.failResolve(new HostFailureException("cannot read /etc/passwd"));
        assertRecoverable(p.startFailure(p.task("alloc1/web/0002")));
        p.users.failResolve(null);

        p.networks.failAttach(new NetworkSetupException("ip link add failed"));
        var net = p.startFailure(p.task("alloc1/web/0003").net("service"));
        assertRecoverable(net);
        assertTrue(net.message().startsWith("network setup failed: "), net.message());
        p.networks.failAttach(null);

        for (String id : new String[] {"alloc1/web/0001", "alloc1/web/0002", "alloc1/web/0003"}) {
            assertNothingLeft(p.task(id));
        }
    }

    @Test
    void theJobsOwnNetworkMistakesAndUnknownUsersAreUnrecoverable() {
        p.networks.failAttach(new InvalidNetworkRequestException("service", "address", "10.1.2.3", "outside the subnet"));
        var net = p.startFailure(p.task("alloc1/web/0001").net("service"));
        assertUnrecoverable(net);
        assertTrue(net.message().startsWith("network: "), net.message());
        p.networks.failAttach(null);

        p.users.failResolve(new InvalidTaskException("user: \"nosuch\" does not exist on this node"));
        assertUnrecoverable(p.startFailure(p.task("alloc1/web/0002").user("nosuch")));
        assertNothingLeft(p.task("alloc1/web/0001"));
        assertNothingLeft(p.task("alloc1/web/0002"));
    }

    @Test
    void aBugDuringStartIsUnrecoverableAndSaysSo() {
        p.supervisor.failNextLaunch(new IllegalStateException("boom"));
        var f = p.startFailure(p.task("alloc1/web/0001").net("service"));
        assertUnrecoverable(f);
        assertEquals(INTERNAL_PREFIX + "java.lang.IllegalStateException: boom", f.message());
        assertNothingLeft(p.task("alloc1/web/0001"));
    }

    @Test
    void aBugInAnyOtherRpcIsInternal() {
        TaskFixture t = p.task("alloc1/web/0001");
        p.start(t);
        p.supervisor.last().failSignals(new IllegalStateException("signal path broken"));
        for (InProcessPlugin.Call call : new InProcessPlugin.Call[] {
            () -> p.signal(t.id, "SIGHUP"),
            () -> p.stop(t.id, java.time.Duration.ofSeconds(1), "SIGTERM"),
            () -> p.destroy(t.id, true)}) {
            StatusRuntimeException e = failure(call);
            assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
            assertEquals(INTERNAL_PREFIX + "java.lang.IllegalStateException: signal path broken",
                    e.getStatus().getDescription());
        }
        assertTrue(p.tracked(t.id));
    }

    @Test
    void aHostFailureInAnyOtherRpcIsInternal() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001");
        StartTaskResponse started = p.start(t);
        p.restartPlugin();
        // The run dir and the plugin's record are there, but the supervisor's own files are gone.
        Files.delete(t.runDir().resolve("fake-supervisor"));
        StatusRuntimeException e = failure(() -> p.recover(started));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("cannot recover task " + t.id), e.getStatus().getDescription());
    }

    @Test
    void recoveryRefusesADriverStateThatIsNotThisTasksRecord() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001");
        TaskFixture other = p.task("alloc1/db/0002");
        StartTaskResponse started = p.start(t);
        StartTaskResponse otherStarted = p.start(other);
        p.restartPlugin();

        // The seal's inner state, as an attacker who read the handle would see it.
        com.fasterxml.jackson.databind.JsonNode sealed = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(started.getHandle().getDriverState().toByteArray());
        DriverState real = DriverState.decode(sealed.get("state").asText().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        DriverState tampered = new DriverState(real.version(), real.task(), real.tender(), real.startedAtNanos() + 1,
                real.network());
        DriverState future = new DriverState(4, real.task(), real.tender(), real.startedAtNanos(), real.network());
        Map<String, byte[]> bad = Map.of(
                "empty", new byte[0],
                "garbage", "{not json".getBytes(),
                "another task's state", otherStarted.getHandle().getDriverState().toByteArray(),
                "a different start time", tampered.encode(),
                "another version", future.encode());
        bad.forEach((what, state) -> {
            TaskHandle handle = started.getHandle().toBuilder().setDriverState(ByteString.copyFrom(state)).build();
            assertEquals(Status.Code.INVALID_ARGUMENT, InProcessPlugin.code(() -> p.rpc().recoverTask(
                    RecoverTaskRequest.newBuilder().setTaskId(t.id).setHandle(handle).build())), what);
            assertTrue(!p.tracked(t.id), what);
        });
        p.recover(started);
        assertTrue(p.tracked(t.id));
    }

    @Test
    void aStartCutShortBeforeItsRecordCannotBeRecovered() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001");
        StartTaskResponse started = p.start(t);
        FakeTender tender = p.supervisor.last();
        p.restartPlugin();
        Files.delete(t.runDir().resolve("task.json"));
        StatusRuntimeException e = failure(() -> p.recover(started));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("its start never completed"), e.getStatus().getDescription());
        assertTrue(tender.isAlive(), "recovery does not touch what it cannot recover");
    }
}
