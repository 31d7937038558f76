package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A {@link TaskScript} run in the background, so that the test can act while
 * the plugin runs: the script stops at each {@link TaskScript#gate}, the test
 * {@link #awaitGate awaits} it, looks at the host (or changes it) and
 * {@link #release releases} it. {@link #close} releases every gate, so a
 * failing test never leaves the probe waiting, and waits for the probe.
 */
public final class GatedProbeRun implements AutoCloseable {
    private final TaskScript script;
    private final Path gates;
    private final CompletableFuture<TaskScript.Result> result;
    private final List<String> log = Collections.synchronizedList(new ArrayList<>());

    private GatedProbeRun(TaskScript script, Path gates, Path dir, Path plugin) {
        this.script = script;
        this.gates = gates;
        this.result = new CompletableFuture<>();
        // A thread of its own: the common pool may have a single worker, which the helpers
        // that read command output (ProcessCommandRunner) need while the probe runs.
        Thread.ofPlatform().daemon().name("probe-" + gates.getFileName()).start(() -> {
            try {
                result.complete(script.run(dir, plugin, log::add));
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
    }

    /** Starts the probe on {@code script}, whose gates live in {@code gates}, launching {@code plugin}. */
    public static GatedProbeRun start(TaskScript script, Path gates, Path dir, Path plugin) {
        return new GatedProbeRun(script, gates, dir, plugin);
    }

    /** Until the script reached the gate; fails when the probe ended first or the time is up. */
    public void awaitGate(String name, Duration timeout) throws InterruptedException {
        Path reached = gates.resolve(name + ".reached");
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!Files.exists(reached)) {
            if (result.isDone()) {
                fail("the probe ended before gate " + name + ": " + outcome());
            }
            if (System.nanoTime() > deadline) {
                fail("the probe did not reach gate " + name + " within " + timeout + "\nlog tail:\n" + logTail(40));
            }
            Thread.sleep(20);
        }
    }

    /** Lets the script go on past the gate. */
    public void release(String name) throws IOException {
        touch(gates.resolve(name + ".go"));
    }

    private static void touch(Path file) throws IOException {
        try {
            Files.createFile(file);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            // released already
        }
    }

    /** Waits for the probe (every gate must have been released) and returns its output. */
    public TaskScript.Result finish(Duration timeout) throws Exception {
        try {
            return result.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Error error) {
                throw error;
            }
            throw e;
        } catch (TimeoutException e) {
            return fail("the probe did not finish within " + timeout + "\nlog tail:\n" + logTail(40));
        }
    }

    /** The probe's and the plugins' log lines so far. */
    public List<String> log() {
        synchronized (log) {
            return List.copyOf(log);
        }
    }

    public String logTail(int lines) {
        List<String> all = log();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    private String outcome() {
        try {
            return result.getNow(null) + "";
        } catch (RuntimeException e) {
            return e + "\nlog tail:\n" + logTail(40);
        }
    }

    /** Releases every gate and waits (bounded) for the probe, which then cleans up its tasks. */
    @Override
    public void close() throws IOException, InterruptedException {
        for (Path go : script.gateReleases()) {
            touch(go);
        }
        try {
            result.get(3, TimeUnit.MINUTES);
        } catch (ExecutionException | TimeoutException e) {
            // reported by finish() when the test got that far; here only the wait matters
        }
    }
}
