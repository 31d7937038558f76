package nomadmirage.nomad;

import static nomadmirage.nomad.InProcessPlugin.awaitTrue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.ListenableFuture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import nomadmirage.driver.TaskHandle;
import nomadmirage.driver.harness.FakeTender;
import nomadmirage.proto.drivers.StartTaskResponse;
import nomadmirage.proto.drivers.WaitTaskRequest;
import nomadmirage.proto.drivers.WaitTaskResponse;
import org.junit.jupiter.api.Test;

/** WaitTask: answered at once for an ended task, when the tender ends otherwise, and a cancelled wait leaves nothing. */
class WaitTaskTest extends InProcessPluginTest {
    private ListenableFuture<WaitTaskResponse> waitFor(String id) {
        return p.futures().withDeadlineAfter(30, TimeUnit.SECONDS)
                .waitTask(WaitTaskRequest.newBuilder().setTaskId(id).build());
    }

    private WaitTaskResponse waitBlocking(String id) {
        return p.rpc().waitTask(WaitTaskRequest.newBuilder().setTaskId(id).build());
    }

    @Test
    void anExitedTaskIsAnsweredAtOnceWithItsExitStatus() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001");
        p.start(t);
        p.supervisor.last().exit(3);
        p.awaitExitSeen(t.id);

        long before = System.nanoTime();
        WaitTaskResponse answer = waitFor(t.id).get(1, TimeUnit.SECONDS);
        assertTrue(System.nanoTime() - before < TimeUnit.MILLISECONDS.toNanos(500));
        assertEquals(3, answer.getResult().getExitCode());
        assertEquals(0, answer.getResult().getSignal());
        assertEquals("", answer.getErr());
        assertEquals(0, p.handle(t.id).exitListenerCount());
        awaitTrue("no open stream", () -> p.service().openStreams() == 0);
    }

    @Test
    void aStoppedTaskReportsTheSignalThatEndedIt() {
        TaskFixture t = p.task("alloc1/web/0001");
        p.start(t);
        p.stop(t.id, Duration.ofSeconds(5), "SIGINT");
        WaitTaskResponse answer = waitBlocking(t.id);
        assertEquals(2, answer.getResult().getSignal());
        assertEquals(130, answer.getResult().getExitCode());
    }

    @Test
    void aTaskThatEndedWhileThePluginWasDownIsAnsweredAtOnceAfterRecovery() {
        TaskFixture t = p.task("alloc1/web/0001");
        StartTaskResponse started = p.start(t);
        FakeTender tender = p.supervisor.last();
        p.restartPlugin();
        tender.exit(7);
        assertTrue(tender.awaitExit(Duration.ofSeconds(5)));
        p.recover(started);
        assertEquals(7, waitBlocking(t.id).getResult().getExitCode());
    }

    @Test
    void aRunningTaskIsAnsweredWhenItsTenderEnds() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001");
        p.start(t);
        TaskHandle handle = p.handle(t.id);
        List<ListenableFuture<WaitTaskResponse>> waits = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            waits.add(waitFor(t.id));
        }
        awaitTrue("five waits registered", () -> handle.exitListenerCount() == 5);
        assertEquals(5, p.service().openStreams());
        waits.forEach(w -> assertFalse(w.isDone(), "answered before the task ended"));

        p.supervisor.last().exit(0);
        for (ListenableFuture<WaitTaskResponse> w : waits) {
            assertEquals(0, w.get(5, TimeUnit.SECONDS).getResult().getExitCode());
        }
        assertEquals(0, handle.exitListenerCount());
        awaitTrue("no open stream", () -> p.service().openStreams() == 0);
    }

    @Test
    void aWaitCancelledByNomadLeavesNoListenerAndNoStream() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001");
        p.start(t);
        TaskHandle handle = p.handle(t.id);
        ListenableFuture<WaitTaskResponse> cancelled = waitFor(t.id);
        ListenableFuture<WaitTaskResponse> kept = waitFor(t.id);
        awaitTrue("both waits registered", () -> handle.exitListenerCount() == 2);
        assertEquals(2, p.service().openStreams());

        cancelled.cancel(true);
        awaitTrue("the cancelled wait's listener removed", () -> handle.exitListenerCount() == 1);
        awaitTrue("the cancelled wait's stream closed", () -> p.service().openStreams() == 1);
        assertFalse(kept.isDone());

        kept.cancel(true);
        awaitTrue("no listener left", () -> handle.exitListenerCount() == 0);
        awaitTrue("no stream left", () -> p.service().openStreams() == 0);

        // The task's end after the cancellations reaches nobody and breaks nothing; a new wait is answered at once.
        p.supervisor.last().exit(4);
        p.awaitExitSeen(t.id);
        assertEquals(4, waitFor(t.id).get(1, TimeUnit.SECONDS).getResult().getExitCode());
        awaitTrue("no stream left", () -> p.service().openStreams() == 0);
    }

    @Test
    void aWaitOutlivesAForcedDestroyAndReportsTheKill() throws Exception {
        TaskFixture t = p.task("alloc1/web/0001");
        p.start(t);
        ListenableFuture<WaitTaskResponse> wait = waitFor(t.id);
        TaskHandle handle = p.handle(t.id);
        awaitTrue("wait registered", () -> handle.exitListenerCount() == 1);
        p.destroy(t.id, true);
        WaitTaskResponse answer = wait.get(5, TimeUnit.SECONDS);
        assertEquals(9, answer.getResult().getSignal());
        assertEquals(137, answer.getResult().getExitCode());
        awaitTrue("no stream left", () -> p.service().openStreams() == 0);
    }

    /**
     * The plugin's own shutdown ends a pending wait with UNAVAILABLE — what Nomad reads as "plugin
     * gone", not as the task's end — and leaks nothing.
     */
    @Test
    void shutdownEndsOpenWaitsFromThePluginsSide() throws Exception {
        java.util.logging.Logger grpcServerCalls = java.util.logging.Logger.getLogger("io.grpc.internal.ServerCallImpl");
        java.util.logging.Level level = grpcServerCalls.getLevel();
        grpcServerCalls.setLevel(java.util.logging.Level.OFF);
        try {
            TaskFixture t = p.task("alloc1/web/0001");
            p.start(t);
            ListenableFuture<WaitTaskResponse> wait = waitFor(t.id);
            TaskHandle handle = p.handle(t.id);
            awaitTrue("wait registered", () -> handle.exitListenerCount() == 1);
            p.rpc().shutdown(nomadmirage.proto.drivers.ShutdownRequest.getDefaultInstance());
            awaitTrue("the wait ended", wait::isDone);
            java.util.concurrent.ExecutionException ended = org.junit.jupiter.api.Assertions.assertThrows(
                    java.util.concurrent.ExecutionException.class, wait::get);
            assertEquals(io.grpc.Status.Code.UNAVAILABLE, io.grpc.Status.fromThrowable(ended.getCause()).getCode());
            awaitTrue("its listener removed", () -> handle.exitListenerCount() == 0);
            assertEquals(0, p.service().openStreams());
        } finally {
            grpcServerCalls.setLevel(level);
        }
    }
}
