package nomadmirage.nomad;

import static nomadmirage.nomad.InProcessPlugin.awaitTrue;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import nomadmirage.driver.DriverState;
import nomadmirage.driver.TaskHandle;
import nomadmirage.driver.TaskId;
import nomadmirage.driver.harness.FakeTender;
import nomadmirage.proto.drivers.ExitResult;
import nomadmirage.proto.drivers.InspectTaskResponse;
import nomadmirage.proto.drivers.RecoverTaskRequest;
import nomadmirage.proto.drivers.StartTaskRequest;
import nomadmirage.proto.drivers.StartTaskResponse;
import nomadmirage.proto.drivers.TaskConfig;
import nomadmirage.proto.drivers.TaskState;
import nomadmirage.proto.drivers.WaitTaskRequest;
import nomadmirage.proto.drivers.WaitTaskResponse;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Property: for any sequence of Nomad's calls (start, wait, stop, signal, destroy, inspect, stats,
 * recover after a plugin restart), tender exits and orphan reconciles over a few task ids, every
 * call answers the status a small model of the lifecycle predicts, and after every step the plugin
 * tracks exactly the tasks the model does, each task has the one live tender the model says (or
 * none), its run directory and network exist exactly while the model says so, and no stream or
 * exit listener is left open.
 *
 * <p>Sequences are generated from seeds; a failing one is shrunk (steps removed while it still
 * fails) and reported with its seed. Rerun one with {@code -Dharness.seed=SEED -Dharness.sequences=1}.
 * (A small generator and shrinker of its own rather than a property-testing library.)
 */
class RpcSequencePropertyTest {
    static final int SEQUENCES = Integer.getInteger("harness.sequences", 200);
    static final String[] IDS = {"alloc1/web/0001", "alloc1/web/0002", "alloc2/db/0003"};

    @TempDir
    Path tmp;
    private final AtomicInteger runs = new AtomicInteger();
    private final Map<String, Integer> coverage = new TreeMap<>();

    enum Kind {
        START(16), WAIT(10), STOP(9), SIGNAL(7), SIGNAL_BAD(2), DESTROY(7), DESTROY_FORCE(5), INSPECT(8), STATS(3),
        TENDER_EXITS(10), RESTART_PLUGIN(3), RECOVER(10), RECONCILE(3);

        final int weight;

        Kind(int weight) {
            this.weight = weight;
        }
    }

    /** One call or event; {@code code} is the exit code for TENDER_EXITS. */
    record Step(Kind kind, int task, int code) {
        @Override
        public String toString() {
            return kind + "(" + IDS[task] + (kind == Kind.TENDER_EXITS ? ", " + code : "") + ")";
        }
    }

    static List<Step> generate(Random random) {
        int total = 0;
        for (Kind k : Kind.values()) {
            total += k.weight;
        }
        int length = 6 + random.nextInt(23);
        List<Step> steps = new ArrayList<>();
        for (int i = 0; i < length; i++) {
            int pick = random.nextInt(total);
            Kind kind = null;
            for (Kind k : Kind.values()) {
                pick -= k.weight;
                if (pick < 0) {
                    kind = k;
                    break;
                }
            }
            steps.add(new Step(kind, random.nextInt(IDS.length), random.nextInt(4)));
        }
        return steps;
    }

    /** What the model knows of one task id. */
    static final class TaskModel {
        boolean tracked;
        /** Its run directory exists on the node, and with it its attached network. */
        boolean runDir;
        /** Its latest tender runs. */
        boolean alive;
        /** How its latest tender ended: "exit N" or "signal N". */
        String ended;
        /** The handle Nomad holds from the latest successful start; null when never started. */
        StartTaskResponse handle;
    }

    /** The model: the expected answer of a step from the state before it, then the state after it. */
    static final class Model {
        final TaskModel[] tasks = new TaskModel[IDS.length];

        Model() {
            for (int i = 0; i < tasks.length; i++) {
                tasks[i] = new TaskModel();
            }
        }

        String expect(Step step) {
            TaskModel m = tasks[step.task];
            return switch (step.kind) {
                case START -> m.tracked ? "FAILED_PRECONDITION recoverable=false" : "OK";
                case WAIT -> !m.tracked ? "NOT_FOUND" : m.alive ? "PENDING" : "OK " + m.ended;
                case STOP, STATS -> m.tracked ? "OK" : "NOT_FOUND";
                case SIGNAL -> !m.tracked ? "NOT_FOUND" : m.alive ? "OK" : "FAILED_PRECONDITION";
                case SIGNAL_BAD -> "INVALID_ARGUMENT";
                case DESTROY -> !m.tracked ? "NOT_FOUND" : m.alive ? "FAILED_PRECONDITION" : "OK";
                case DESTROY_FORCE -> m.tracked ? "OK" : "NOT_FOUND";
                case INSPECT -> !m.tracked ? "NOT_FOUND" : m.alive ? "OK RUNNING" : "OK EXITED " + m.ended;
                case TENDER_EXITS, RESTART_PLUGIN, RECONCILE -> "-";
                // A task never started has no handle: the one made up for it carries no valid seal.
                case RECOVER -> m.tracked || m.runDir ? "OK" : m.handle == null ? "INVALID_ARGUMENT" : "NOT_FOUND";
            };
        }

        void apply(Step step, String answer) {
            TaskModel m = tasks[step.task];
            switch (step.kind) {
                case START -> {
                    if (!m.tracked) {
                        m.tracked = true;
                        m.runDir = true;
                        m.alive = true;
                        m.ended = null;
                    }
                }
                case STOP -> {
                    if (m.tracked && m.alive) {
                        m.alive = false;
                        m.ended = "signal 15";
                    }
                }
                case DESTROY -> {
                    if (m.tracked && !m.alive) {
                        m.tracked = false;
                        m.runDir = false;
                    }
                }
                case DESTROY_FORCE -> {
                    if (m.tracked) {
                        if (m.alive) {
                            m.alive = false;
                            m.ended = "signal 9";
                        }
                        m.tracked = false;
                        m.runDir = false;
                    }
                }
                case TENDER_EXITS -> {
                    if (m.alive) {
                        m.alive = false;
                        m.ended = "exit " + step.code;
                    }
                }
                case RESTART_PLUGIN -> {
                    for (TaskModel t : tasks) {
                        t.tracked = false;
                    }
                }
                case RECOVER -> {
                    if (m.runDir) {
                        m.tracked = true;
                    }
                }
                case RECONCILE -> {
                    // Every task no one tracks is an orphan: its tender killed, its run dir and network removed.
                    for (TaskModel t : tasks) {
                        if (!t.tracked && t.runDir) {
                            if (t.alive) {
                                t.alive = false;
                                t.ended = "signal 9";
                            }
                            t.runDir = false;
                        }
                    }
                }
                default -> { }
            }
        }
    }

    @Test
    void randomRpcSequencesMatchTheModel() {
        long base = Long.getLong("harness.seed", new Random().nextLong());
        long began = System.nanoTime();
        int steps = 0;
        for (int i = 0; i < SEQUENCES; i++) {
            long seed = base + i;
            List<Step> sequence = generate(new Random(seed));
            steps += sequence.size();
            Optional<String> failure = run(sequence, true);
            if (failure.isPresent()) {
                List<Step> shrunk = shrink(sequence);
                fail("a sequence broke the model; rerun it with -Dharness.seed=" + seed + " -Dharness.sequences=1\n"
                        + "shrunk to " + shrunk + ":\n" + run(shrunk, false).orElse("(the shrunk sequence passed?)")
                        + "\noriginal (" + sequence.size() + " steps): " + sequence);
            }
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        System.out.println("RpcSequencePropertyTest: " + SEQUENCES + " sequences, " + steps + " steps, " + millis
                + " ms, base seed " + base + "; answers seen: " + coverage);
        if (SEQUENCES >= 100) {
            // The generator must reach the interesting corners, or the property proves little.
            for (String wanted : List.of("START OK", "START FAILED_PRECONDITION recoverable=false", "WAIT PENDING",
                    "WAIT NOT_FOUND", "STOP OK", "SIGNAL OK", "SIGNAL FAILED_PRECONDITION", "DESTROY OK",
                    "DESTROY FAILED_PRECONDITION", "DESTROY_FORCE OK", "INSPECT OK RUNNING", "RECOVER OK",
                    "RECOVER NOT_FOUND", "STOP NOT_FOUND")) {
                assertTrue(coverage.containsKey(wanted), "never seen: " + wanted + " in " + coverage);
            }
            assertTrue(coverage.keySet().stream().anyMatch(k -> k.startsWith("WAIT OK ")), coverage.toString());
            assertTrue(coverage.keySet().stream().anyMatch(k -> k.startsWith("INSPECT OK EXITED ")), coverage.toString());
        }
    }

    /** Removes steps one at a time while the sequence still fails, until no single removal keeps it failing. */
    private List<Step> shrink(List<Step> failing) {
        List<Step> current = failing;
        boolean smaller = true;
        while (smaller) {
            smaller = false;
            for (int i = 0; i < current.size(); i++) {
                List<Step> candidate = new ArrayList<>(current);
                candidate.remove(i);
                if (run(candidate, false).isPresent()) {
                    current = candidate;
                    smaller = true;
                    break;
                }
            }
        }
        return current;
    }

    /** Runs the steps on a fresh node; the first disagreement with the model, or empty. */
    private Optional<String> run(List<Step> steps, boolean count) {
        Model model = new Model();
        try (InProcessPlugin p = new InProcessPlugin(tmp.resolve("run-" + runs.incrementAndGet()))) {
            TaskFixture[] fixtures = new TaskFixture[IDS.length];
            for (int i = 0; i < IDS.length; i++) {
                fixtures[i] = p.task(IDS[i]).net("service");
            }
            for (int i = 0; i < steps.size(); i++) {
                Step step = steps.get(i);
                String expected = model.expect(step);
                String actual;
                try {
                    actual = execute(p, model, fixtures, step);
                } catch (Exception | AssertionError e) {
                    return Optional.of(where(i, step) + " threw " + e + "\njournal:\n" + p.journal);
                }
                if (count) {
                    coverage.merge(step.kind + (actual.equals("-") ? "" : " " + actual), 1, Integer::sum);
                }
                if (!expected.equals(actual)) {
                    return Optional.of(where(i, step) + " answered " + actual + ", the model expected " + expected
                            + "\njournal:\n" + p.journal);
                }
                model.apply(step, actual);
                Optional<String> broken = invariants(p, model, fixtures);
                if (broken.isPresent()) {
                    return Optional.of("after " + where(i, step) + ": " + broken.get() + "\njournal:\n" + p.journal);
                }
            }
            return Optional.empty();
        } catch (Exception e) {
            return Optional.of("the harness failed: " + e);
        }
    }

    private static String where(int index, Step step) {
        return "step " + index + " " + step;
    }

    private static String execute(InProcessPlugin p, Model model, TaskFixture[] fixtures, Step step) throws Exception {
        TaskFixture t = fixtures[step.task];
        TaskModel m = model.tasks[step.task];
        String id = t.id;
        return switch (step.kind) {
            case START -> {
                try {
                    StartTaskResponse started = p.rpc().startTask(StartTaskRequest.newBuilder().setTask(t.proto()).build());
                    m.handle = started;
                    yield "OK";
                } catch (StatusRuntimeException e) {
                    yield e.getStatus().getCode() + " recoverable=" + p.startFailureOf(e).recoverable();
                }
            }
            case WAIT -> waitTask(p, id);
            case STOP -> code(() -> p.stop(id, Duration.ofSeconds(5), "SIGTERM"));
            case SIGNAL -> code(() -> p.signal(id, "SIGUSR1"));
            case SIGNAL_BAD -> code(() -> p.signal(id, "SIGWHATEVER"));
            case DESTROY -> code(() -> p.destroy(id, false));
            case DESTROY_FORCE -> code(() -> p.destroy(id, true));
            case INSPECT -> {
                try {
                    InspectTaskResponse status = p.inspect(id);
                    yield "OK " + (status.getTask().getState() == TaskState.RUNNING ? "RUNNING"
                            : status.getTask().getState() + " " + ended(status.getTask().getResult()));
                } catch (StatusRuntimeException e) {
                    yield RpcStatusMatrixTest.describe(e);
                }
            }
            case STATS -> RpcStatusMatrixTest.statsOutcome(p, id);
            case TENDER_EXITS -> {
                Optional<FakeTender> tender = p.supervisor.tenderOf(t.fileName()).filter(FakeTender::isAlive);
                if (tender.isPresent()) {
                    tender.get().exit(step.code);
                    assertTrue(tender.get().awaitExit(Duration.ofSeconds(5)));
                    if (p.tracked(id)) {
                        p.awaitExitSeen(id);
                    }
                }
                yield "-";
            }
            case RESTART_PLUGIN -> {
                p.restartPlugin();
                yield "-";
            }
            case RECONCILE -> {
                p.tasks().reconcile(Duration.ZERO);
                yield "-";
            }
            case RECOVER -> code(() -> p.rpc().recoverTask(RecoverTaskRequest.newBuilder().setTaskId(id)
                    .setHandle(m.handle != null ? m.handle.getHandle() : unknownHandle(t)).build()));
        };
    }

    private static String ended(ExitResult result) {
        return result.getSignal() != 0 ? "signal " + result.getSignal() : "exit " + result.getExitCode();
    }

    private static String code(InProcessPlugin.Call call) throws Exception {
        try {
            call.run();
            return "OK";
        } catch (StatusRuntimeException e) {
            return RpcStatusMatrixTest.describe(e);
        }
    }

    private static String waitTask(InProcessPlugin p, String id) throws Exception {
        Optional<TaskHandle> handle = p.tasks().find(new TaskId(id));
        ListenableFuture<WaitTaskResponse> answer = p.futures().withDeadlineAfter(30, TimeUnit.SECONDS)
                .waitTask(WaitTaskRequest.newBuilder().setTaskId(id).build());
        awaitTrue("WaitTask to answer or wait", () -> answer.isDone()
                || handle.map(h -> h.exitListenerCount() > 0).orElse(false));
        if (!answer.isDone()) {
            answer.cancel(true);
            return "PENDING";
        }
        try {
            return "OK " + ended(answer.get().getResult());
        } catch (ExecutionException e) {
            return RpcStatusMatrixTest.describe((StatusRuntimeException) e.getCause());
        }
    }

    /** A handle for a task that was never started: well-formed, naming the task. */
    private static nomadmirage.proto.drivers.TaskHandle unknownHandle(TaskFixture t) {
        DriverState state = new DriverState(DriverState.CURRENT_VERSION, new DriverState.Task(t.id, t.allocId, t.name),
                TenderKind.SOLO5_SPT, 1L, DriverState.Network.NONE);
        return nomadmirage.proto.drivers.TaskHandle.newBuilder().setVersion(1)
                .setConfig(TaskConfig.newBuilder().setId(t.id))
                .setDriverState(ByteString.copyFrom(state.encode())).build();
    }

    private static Optional<String> invariants(InProcessPlugin p, Model model, TaskFixture[] fixtures) {
        for (int i = 0; i < IDS.length; i++) {
            TaskModel m = model.tasks[i];
            TaskFixture t = fixtures[i];
            if (p.tracked(t.id) != m.tracked) {
                return Optional.of(t.id + " tracked=" + p.tracked(t.id) + ", the model says " + m.tracked);
            }
            if (Files.isDirectory(t.runDir()) != m.runDir) {
                return Optional.of(t.id + " run dir present=" + Files.isDirectory(t.runDir()) + ", the model says " + m.runDir);
            }
            if (p.networks.tapsOf(t.id).isEmpty() == m.runDir) {
                return Optional.of(t.id + " taps " + p.networks.tapsOf(t.id) + ", the model says attached=" + m.runDir);
            }
            long alive = p.supervisor.alive().stream().filter(x -> x.task().equals(t.fileName())).count();
            if (alive != (m.alive ? 1 : 0)) {
                return Optional.of(t.id + " has " + alive + " live tenders, the model says alive=" + m.alive);
            }
            if (m.tracked) {
                TaskHandle handle = p.handle(t.id);
                awaitTrue("no exit listener left on " + t.id, () -> handle.exitListenerCount() == 0);
            }
        }
        awaitTrue("no open stream left", () -> p.service().openStreams() == 0);
        return Optional.empty();
    }
}
