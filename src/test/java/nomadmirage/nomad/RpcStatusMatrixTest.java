package nomadmirage.nomad;

import static nomadmirage.nomad.InProcessPlugin.awaitTrue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import nomadmirage.driver.DriverState;
import nomadmirage.driver.TaskHandle;
import nomadmirage.driver.TaskId;
import nomadmirage.driver.TaskNotFoundException;
import nomadmirage.driver.harness.FakeTender;
import nomadmirage.proto.drivers.RecoverTaskRequest;
import nomadmirage.proto.drivers.StartTaskResponse;
import nomadmirage.proto.drivers.TaskConfig;
import nomadmirage.proto.drivers.TaskStatsRequest;
import nomadmirage.proto.drivers.TaskStatsResponse;
import nomadmirage.proto.drivers.WaitTaskRequest;
import nomadmirage.proto.drivers.WaitTaskResponse;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every task RPC in every situation a task can be in answers exactly the status of the error table,
 * leaves the task tracked or not as Nomad expects, and leaves no stream or exit listener behind.
 */
class RpcStatusMatrixTest {
    private static final String UNRECOVERABLE = "FAILED_PRECONDITION recoverable=false";

    @TempDir
    Path tmp;

    /** Where a task is when the RPC arrives. */
    enum Situation {
        RUNNING(true, true),
        EXITED(true, false),
        STOPPED(true, false),
        /** Recovered by a fresh plugin (RecoverTask from the previous plugin's handle), tender running. */
        RECOVERED(true, true),
        /** The tender ended while no plugin ran; then RecoverTask. */
        RECOVERED_EXITED(true, false),
        /** The plugin restarted and Nomad has not recovered the task (yet): unknown to this plugin. */
        NOT_RECOVERED(false, true),
        DESTROYED(false, false),
        UNKNOWN(false, false),
        EMPTY_ID(false, false);

        final boolean tracked;
        final boolean alive;

        Situation(boolean tracked, boolean alive) {
            this.tracked = tracked;
            this.alive = alive;
        }
    }

    enum Rpc {
        START_SAME_ID, RECOVER, WAIT, STOP, STOP_BAD_SIGNAL, DESTROY, DESTROY_FORCE, SIGNAL, SIGNAL_BAD_NAME, INSPECT,
        STATS
    }

    /** The task under test: its fixture, its id as sent, and the handle Nomad holds (null when none). */
    private record Subject(TaskFixture fixture, String id, StartTaskResponse handle) {
    }

    static Stream<Arguments> cells() {
        List<Arguments> out = new ArrayList<>();
        for (Situation s : Situation.values()) {
            for (Rpc rpc : Rpc.values()) {
                out.add(Arguments.of(s, rpc));
            }
        }
        return out.stream();
    }

    /** The error table, per situation. */
    static String expected(Rpc rpc, Situation s) {
        if (s == Situation.EMPTY_ID) {
            return rpc == Rpc.START_SAME_ID ? UNRECOVERABLE : "INVALID_ARGUMENT";
        }
        boolean tracked = s.tracked;
        boolean alive = s.alive;
        return switch (rpc) {
            case START_SAME_ID -> tracked ? UNRECOVERABLE : "OK";
            // An unknown task's handle is made up here, so it carries no valid seal: refused before anything else.
            case RECOVER -> tracked || s == Situation.NOT_RECOVERED ? "OK"
                    : s == Situation.UNKNOWN ? "INVALID_ARGUMENT" : "NOT_FOUND";
            case WAIT -> !tracked ? "NOT_FOUND" : alive ? "PENDING" : "OK";
            case STOP, INSPECT, STATS, DESTROY_FORCE -> tracked ? "OK" : "NOT_FOUND";
            case STOP_BAD_SIGNAL, SIGNAL_BAD_NAME -> "INVALID_ARGUMENT";
            case DESTROY -> !tracked ? "NOT_FOUND" : alive ? "FAILED_PRECONDITION" : "OK";
            case SIGNAL -> !tracked ? "NOT_FOUND" : alive ? "OK" : "FAILED_PRECONDITION";
        };
    }

    static boolean trackedAfter(Rpc rpc, Situation s) {
        if (s == Situation.EMPTY_ID) {
            return false;
        }
        return switch (rpc) {
            case START_SAME_ID -> true;
            case RECOVER -> s.tracked || s == Situation.NOT_RECOVERED;
            case DESTROY -> s.tracked && s.alive;
            case DESTROY_FORCE -> false;
            default -> s.tracked;
        };
    }

    @ParameterizedTest(name = "{1} on a task {0}")
    @MethodSource("cells")
    void everyRpcInEverySituationAnswersTheTablesStatus(Situation situation, Rpc rpc) throws Exception {
        try (InProcessPlugin p = new InProcessPlugin(tmp)) {
            Subject subject = arrange(p, situation);
            String answer = call(p, rpc, subject);
            assertEquals(expected(rpc, situation), answer, () -> "journal:\n" + p.journal + "\nlog:\n" + p.logs());

            boolean tracked = !subject.id.isEmpty() && p.tracked(subject.id);
            assertEquals(trackedAfter(rpc, situation), tracked, "tracked after " + rpc);
            List<FakeTender> alive = p.supervisor.alive().stream()
                    .filter(t -> t.task().equals(subject.fixture.fileName())).toList();
            assertTrue(alive.size() <= 1, "at most one live tender per task: " + alive);
            if (tracked) {
                TaskHandle handle = p.handle(subject.id);
                assertEquals(handle.outcome().isDone() ? 0 : 1, alive.size(), "live tender vs. the driver's view");
                awaitTrue("no exit listener left", () -> handle.exitListenerCount() == 0);
            }
            assertEquals(Files.isDirectory(subject.fixture.runDir()), p.networks.attached().contains(subject.fixture.id),
                    "the task's network is attached exactly while its run directory exists");
            awaitTrue("no open stream left", () -> p.service().openStreams() == 0);
        }
    }

    private static Subject arrange(InProcessPlugin p, Situation s) throws Exception {
        TaskFixture t = p.task("alloc1/web/0001").net("service");
        if (s == Situation.UNKNOWN) {
            return new Subject(t, t.id, null);
        }
        if (s == Situation.EMPTY_ID) {
            return new Subject(t, "", null);
        }
        StartTaskResponse started = p.start(t);
        FakeTender tender = p.supervisor.last();
        switch (s) {
            case RUNNING -> { }
            case EXITED -> {
                tender.exit(3);
                p.awaitExitSeen(t.id);
            }
            case STOPPED -> p.stop(t.id, Duration.ofSeconds(5), "SIGTERM");
            case RECOVERED -> {
                p.restartPlugin();
                p.recover(started);
            }
            case RECOVERED_EXITED -> {
                p.restartPlugin();
                tender.exit(3);
                assertTrue(tender.awaitExit(Duration.ofSeconds(5)));
                p.recover(started);
                p.awaitExitSeen(t.id);
            }
            case NOT_RECOVERED -> p.restartPlugin();
            case DESTROYED -> {
                p.stop(t.id, Duration.ofSeconds(5), "SIGTERM");
                p.destroy(t.id, false);
            }
            default -> throw new IllegalArgumentException(s.name());
        }
        return new Subject(t, t.id, started);
    }

    private static String call(InProcessPlugin p, Rpc rpc, Subject subject) throws Exception {
        String id = subject.id;
        return switch (rpc) {
            case START_SAME_ID -> {
                TaskConfig task = subject.fixture.proto().toBuilder().setId(id).build();
                try {
                    p.rpc().startTask(nomadmirage.proto.drivers.StartTaskRequest.newBuilder().setTask(task).build());
                    yield "OK";
                } catch (StatusRuntimeException e) {
                    InProcessPlugin.StartFailure f = p.startFailureOf(e);
                    yield describe(e) + " recoverable=" + f.recoverable();
                }
            }
            case RECOVER -> outcome(() -> p.rpc().recoverTask(RecoverTaskRequest.newBuilder().setTaskId(id)
                    .setHandle(subject.handle != null ? subject.handle.getHandle() : synthesizedHandle(subject))
                    .build()));
            case WAIT -> waitOutcome(p, id);
            case STOP -> outcome(() -> p.stop(id, Duration.ofSeconds(5), "SIGTERM"));
            case STOP_BAD_SIGNAL -> outcome(() -> p.stop(id, Duration.ofSeconds(5), "SIGNOPE"));
            case DESTROY -> outcome(() -> p.destroy(id, false));
            case DESTROY_FORCE -> outcome(() -> p.destroy(id, true));
            case SIGNAL -> outcome(() -> p.signal(id, "SIGUSR1"));
            case SIGNAL_BAD_NAME -> outcome(() -> p.signal(id, "SIGNOPE"));
            case INSPECT -> outcome(() -> p.inspect(id));
            case STATS -> statsOutcome(p, id);
        };
    }

    /** A handle for a task this plugin never started: well-formed driver state naming the task. */
    private static nomadmirage.proto.drivers.TaskHandle synthesizedHandle(Subject subject) {
        DriverState state = new DriverState(DriverState.CURRENT_VERSION,
                new DriverState.Task(subject.id, subject.fixture.allocId, subject.fixture.name), TenderKind.SOLO5_SPT,
                1L, DriverState.Network.NONE);
        return nomadmirage.proto.drivers.TaskHandle.newBuilder().setVersion(1)
                .setConfig(TaskConfig.newBuilder().setId(subject.id))
                .setDriverState(ByteString.copyFrom(state.encode())).build();
    }

    private static String outcome(InProcessPlugin.Call call) {
        try {
            call.run();
            return "OK";
        } catch (StatusRuntimeException e) {
            return describe(e);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** The code; a NOT_FOUND must also carry Nomad's wording. */
    static String describe(StatusRuntimeException e) {
        String message = String.valueOf(e.getStatus().getDescription());
        if (e.getStatus().getCode() == io.grpc.Status.Code.NOT_FOUND
                && !message.startsWith(TaskNotFoundException.NOMAD_MESSAGE)) {
            return "NOT_FOUND with the wrong message: " + message;
        }
        return e.getStatus().getCode().name();
    }

    /** OK or an error when the server answered; PENDING when it registered for the task's exit instead. */
    private static String waitOutcome(InProcessPlugin p, String id) throws Exception {
        Optional<TaskHandle> handle = id.isEmpty() ? Optional.empty() : p.tasks().find(new TaskId(id));
        ListenableFuture<WaitTaskResponse> answer = p.futures().withDeadlineAfter(30, TimeUnit.SECONDS)
                .waitTask(WaitTaskRequest.newBuilder().setTaskId(id).build());
        awaitTrue("WaitTask to answer or wait", () -> answer.isDone()
                || handle.map(h -> h.exitListenerCount() > 0).orElse(false));
        if (!answer.isDone()) {
            answer.cancel(true);
            return "PENDING";
        }
        try {
            answer.get();
            return "OK";
        } catch (ExecutionException e) {
            return describe((StatusRuntimeException) e.getCause());
        }
    }

    static String statsOutcome(InProcessPlugin p, String id) throws Exception {
        Context.CancellableContext call = Context.current().withCancellation();
        try {
            return call.call(() -> {
                Iterator<TaskStatsResponse> stats = p.rpc().taskStats(TaskStatsRequest.newBuilder().setTaskId(id)
                        .setCollectionInterval(com.google.protobuf.Duration.newBuilder().setSeconds(1)).build());
                stats.hasNext();
                return "OK";
            });
        } catch (StatusRuntimeException e) {
            return describe(e);
        } finally {
            call.cancel(null);
        }
    }
}
