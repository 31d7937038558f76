package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import nomadmirage.driver.harness.FakeTender;
import nomadmirage.proc.Signals;
import nomadmirage.proto.drivers.InspectTaskResponse;
import nomadmirage.proto.drivers.StartTaskResponse;
import nomadmirage.proto.drivers.TaskState;
import org.junit.jupiter.api.Test;

/** A fresh plugin finds its tasks again from Nomad's handles and acts on the same tenders. */
class RecoveryTest extends InProcessPluginTest {
    @Test
    void aNetworkedTaskWithForwardedPortsRecoversAsItWas() {
        TaskFixture t = p.task("alloc1/web/0001").net("service").net("admin")
                .port("http", 28080, 80).port("ssh", 28022, 0)
                .config("auto_advertise", true)
                .config("network", List.of(Map.of("device", "admin", "ports", List.of("ssh"),
                        "address", "10.99.3.3", "mac", "02:aa:bb:cc:dd:ee")));
        StartTaskResponse started = p.start(t);
        InspectTaskResponse before = p.inspect(t.id);
        FakeTender tender = p.supervisor.last();

        p.restartPlugin();
        p.recover(started);

        InspectTaskResponse after = p.inspect(t.id);
        assertEquals(started.getNetworkOverride(), after.getNetworkOverride());
        assertEquals(before.getDriver(), after.getDriver());
        assertEquals(before.getTask().getStartedAt(), after.getTask().getStartedAt());
        assertEquals(TaskState.RUNNING, after.getTask().getState());

        p.stop(t.id, Duration.ofSeconds(5), "SIGTERM");
        assertEquals(List.of(Signals.SIGTERM), tender.signals(), "the recovered task acts on the same tender");
        p.destroy(t.id, false);
        assertTrue(p.networks.attached().isEmpty());
    }

    @Test
    void recoveringTwiceIsHarmlessAndRecoveryOfOneTaskLeavesTheOthersAlone() {
        TaskFixture a = p.task("alloc1/web/0001");
        TaskFixture b = p.task("alloc1/db/0002");
        StartTaskResponse startedA = p.start(a);
        p.start(b);
        p.restartPlugin();

        p.recover(startedA);
        p.recover(startedA);
        assertTrue(p.tracked(a.id));
        assertFalse(p.tracked(b.id));
        assertEquals(2, p.supervisor.alive().size(), "nothing is stopped by recovery");
    }
}
