package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import nomadmirage.driver.harness.FakeTender;
import nomadmirage.proc.Signals;
import nomadmirage.proto.drivers.TaskState;
import nomadmirage.solo5.AbiTarget;
import org.junit.jupiter.api.Test;

/** StopTask: the kill signal first, SIGKILL only once the timeout passed, and the answer only once the tender is gone. */
class StopEscalationTest extends InProcessPluginTest {
    private static long millisSince(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }

    @Test
    void aTenderThatHonoursTheKillSignalGetsNothingElse() {
        TaskFixture t = p.task("alloc1/web/0001");
        p.start(t);
        FakeTender tender = p.supervisor.last();
        long start = System.nanoTime();
        p.stop(t.id, Duration.ofSeconds(5), "SIGTERM");
        assertTrue(millisSince(start) < 2000, "no waiting for the timeout");
        assertEquals(List.of(Signals.SIGTERM), tender.signals());
        assertFalse(tender.isAlive());
        assertEquals(TaskState.EXITED, p.inspect(t.id).getTask().getState());
    }

    @Test
    void theJobsKillSignalIsUsedAndAnEmptyOneMeansSigterm() {
        TaskFixture t1 = p.task("alloc1/web/0001");
        p.start(t1);
        FakeTender first = p.supervisor.last();
        p.stop(t1.id, Duration.ofSeconds(5), "SIGINT");
        assertEquals(List.of(Signals.SIGINT), first.signals());

        TaskFixture t2 = p.task("alloc1/web/0002");
        p.start(t2);
        FakeTender second = p.supervisor.last();
        p.stop(t2.id, Duration.ofSeconds(5), "");
        assertEquals(List.of(Signals.SIGTERM), second.signals());
    }

    @Test
    void sigkillComesOnlyAfterTheTimeout() {
        TaskFixture t = p.task("alloc1/web/0001");
        p.supervisor.afterLaunch(tender -> tender.ignore(Signals.SIGTERM));
        p.start(t);
        FakeTender tender = p.supervisor.last();
        Duration timeout = Duration.ofMillis(400);

        long start = System.nanoTime();
        p.stop(t.id, timeout, "SIGTERM");
        long took = millisSince(start);

        List<FakeTender.Received> got = tender.received();
        assertEquals(List.of(Signals.SIGTERM, Signals.SIGKILL), tender.signals());
        // The driver waits out the rest of the timeout in whole milliseconds (rounded down): a little slack.
        long slackMillis = 5;
        long gap = TimeUnit.NANOSECONDS.toMillis(got.get(1).atNanos() - got.get(0).atNanos());
        assertTrue(gap >= timeout.toMillis() - slackMillis, "SIGKILL " + gap + " ms after SIGTERM, before the timeout");
        assertTrue(took >= timeout.toMillis() - slackMillis && took < timeout.toMillis() + 3000,
                "stop took " + took + " ms");
        assertFalse(tender.isAlive());
        var status = p.inspect(t.id).getTask();
        assertEquals(TaskState.EXITED, status.getState());
        assertEquals(Signals.SIGKILL, status.getResult().getSignal());
        assertTrue(p.journal.matching("network.").isEmpty(), "stop keeps everything for destroy");
        assertTrue(Files.isDirectory(t.runDir()));
    }

    @Test
    void stopAnswersOnlyOnceTheTenderIsGone() {
        TaskFixture t = p.task("alloc1/web/0001");
        // The tender takes a while to die after SIGTERM, and again after SIGKILL.
        p.supervisor.afterLaunch(tender -> tender.exitDelay(Duration.ofMillis(300)));
        p.start(t);
        FakeTender slow = p.supervisor.last();
        p.stop(t.id, Duration.ofSeconds(5), "SIGTERM");
        assertFalse(slow.isAlive(), "answered before the tender was gone");
        assertEquals(List.of(Signals.SIGTERM), slow.signals());

        TaskFixture t2 = p.task("alloc1/web/0002");
        p.supervisor.afterLaunch(tender -> tender.ignore(Signals.SIGTERM).exitDelay(Duration.ofMillis(300)));
        p.start(t2);
        FakeTender stubborn = p.supervisor.last();
        p.stop(t2.id, Duration.ofMillis(100), "SIGTERM");
        assertFalse(stubborn.isAlive(), "answered before the tender was gone");
        assertEquals(List.of(Signals.SIGTERM, Signals.SIGKILL), stubborn.signals());
        assertEquals(TaskState.EXITED, p.inspect(t2.id).getTask().getState());
    }

    @Test
    void aSecondStopWaitsForTheFirstInsteadOfSignallingAgain() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001");
        p.supervisor.afterLaunch(tender -> tender.ignore(Signals.SIGTERM));
        p.start(t);
        FakeTender tender = p.supervisor.last();
        CompletableFuture<Void> first = CompletableFuture.runAsync(() -> p.stop(t.id, Duration.ofMillis(500), "SIGTERM"),
                r -> Thread.ofVirtual().start(r));
        InProcessPlugin.awaitTrue("the first stop's SIGTERM", () -> !tender.signals().isEmpty());
        p.stop(t.id, Duration.ofSeconds(5), "SIGTERM");
        assertFalse(tender.isAlive());
        first.get(5, TimeUnit.SECONDS);
        assertEquals(List.of(Signals.SIGTERM, Signals.SIGKILL), tender.signals());
    }

    @Test
    void qemuGetsTheKillSignalAtOnceWithoutAnyPowerDown() {
        TaskFixture t = p.task("alloc1/web/0001").target(AbiTarget.VIRTIO);
        p.start(t);
        FakeTender qemu = p.supervisor.last();
        List<String> argv = qemu.request().argv();
        assertTrue(argv.getFirst().endsWith("qemu-system-x86_64"), argv.toString());
        assertFalse(argv.stream().anyMatch(a -> a.contains("qmp")), "no QMP socket: " + argv);

        long start = System.nanoTime();
        p.stop(t.id, Duration.ofSeconds(5), "SIGTERM");
        assertTrue(millisSince(start) < 2000);
        assertEquals(List.of(Signals.SIGTERM), qemu.signals());
        assertEquals(List.of("signal pid 1002 (alloc1.web.0001) SIGTERM", "exit pid 1002 (alloc1.web.0001) by SIGTERM"),
                p.journal.matching("signal ", "exit "));
    }

    @Test
    void stopOfAnExitedTaskSendsNothing() {
        TaskFixture t = p.task("alloc1/web/0001");
        p.start(t);
        FakeTender tender = p.supervisor.last();
        tender.exit(0);
        p.awaitExitSeen(t.id);
        p.stop(t.id, Duration.ofSeconds(5), "SIGTERM");
        assertEquals(List.of(), tender.signals());
    }

    /**
     * A tender that survives SIGKILL (stuck in the kernel): destroy answers INTERNAL after 10 s and
     * keeps the task; stop answers INTERNAL too rather than claim the tender is gone. Both run at
     * once so the test waits the 10 s only once.
     */
    @Test
    void aTenderThatSurvivesSigkillIsAHostFailureAndTheTaskIsKept() throws Exception {
        p.supervisor.afterLaunch(tender -> tender.ignore(Signals.SIGTERM).ignore(Signals.SIGKILL));
        TaskFixture destroyed = p.task("alloc1/web/0001").net("service");
        TaskFixture stopped = p.task("alloc1/web/0002");
        p.start(destroyed);
        FakeTender unkillable = p.supervisor.last();
        p.start(stopped);
        FakeTender alsoUnkillable = p.supervisor.last();

        Executor concurrently = r -> Thread.ofVirtual().start(r);
        CompletableFuture<StatusRuntimeException> destroy = CompletableFuture.supplyAsync(
                () -> InProcessPlugin.failure(() -> p.destroy(destroyed.id, true)), concurrently);
        CompletableFuture<StatusRuntimeException> stop = CompletableFuture.supplyAsync(
                () -> InProcessPlugin.failure(() -> p.stop(stopped.id, Duration.ofMillis(100), "SIGTERM")), concurrently);

        StatusRuntimeException destroyFailure = destroy.get(30, TimeUnit.SECONDS);
        assertEquals(Status.Code.INTERNAL, destroyFailure.getStatus().getCode());
        assertTrue(destroyFailure.getStatus().getDescription().contains("survived SIGKILL"),
                destroyFailure.getStatus().getDescription());
        assertTrue(p.tracked(destroyed.id), "the task is kept");
        assertEquals(TaskState.RUNNING, p.inspect(destroyed.id).getTask().getState());
        assertTrue(Files.isDirectory(destroyed.runDir()), "its objects are not released");
        assertEquals(List.of("alloc1/web/0001"), List.copyOf(p.networks.attached()));
        assertTrue(unkillable.isAlive());

        StatusRuntimeException stopFailure = stop.get(30, TimeUnit.SECONDS);
        assertEquals(Status.Code.INTERNAL, stopFailure.getStatus().getCode(), "StopTask claimed the tender is gone");
        assertTrue(stopFailure.getStatus().getDescription().contains("survived SIGKILL"),
                stopFailure.getStatus().getDescription());
        assertTrue(alsoUnkillable.isAlive());
        assertEquals(List.of(Signals.SIGTERM, Signals.SIGKILL), alsoUnkillable.signals());

        // Once the tender finally dies, destroy succeeds and frees everything.
        unkillable.vanish();
        p.awaitExitSeen(destroyed.id);
        p.destroy(destroyed.id, true);
        assertFalse(p.tracked(destroyed.id));
        assertTrue(p.networks.attached().isEmpty());
        assertFalse(Files.exists(destroyed.runDir()));
    }
}
