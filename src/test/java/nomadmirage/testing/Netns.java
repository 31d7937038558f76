package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;
import nomadmirage.proc.ProcessCommandRunner;

/**
 * A throwaway network namespace ({@code mgtest-xxxxxx}) so that bridges, taps,
 * iptables rules and packets of a test never touch the host's own namespace.
 * {@link #runner()} runs commands inside it, which is how the code under test is
 * pointed at it. Closing kills the processes started through {@link #start} (by
 * their handles) and deletes the namespace.
 */
public final class Netns implements AutoCloseable {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final CommandRunner HOST = new ProcessCommandRunner();

    private final String name;
    private final List<Process> started = new ArrayList<>();

    private Netns(String name) {
        this.name = name;
    }

    /**
     * Creates a namespace with loopback up. Without root the test is skipped, except
     * when {@code CI} is set, where a skip would hide that nothing ran.
     */
    public static Netns create() throws IOException {
        TestEnv.requireRoot("network namespace tests need root");
        String name = "mgtest-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(2);
        CommandResult added = HOST.run(List.of("ip", "netns", "add", name), TIMEOUT);
        assertTrue(added.succeeded(), added.summary());
        Netns ns = new Netns(name);
        try {
            ns.run("ip", "link", "set", "lo", "up");
        } catch (RuntimeException | Error e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    public String name() {
        return name;
    }

    /** The argv prefix that runs a command inside this namespace. */
    public List<String> prefix() {
        return List.of("ip", "netns", "exec", name);
    }

    /** A command runner whose every command runs inside this namespace (output bounds passed on). */
    public CommandRunner runner() {
        return runnerIn(name);
    }

    /** A command runner whose every command runs inside the named namespace (one this class did not create). */
    public static CommandRunner runnerIn(String name) {
        List<String> prefix = List.of("ip", "netns", "exec", name);
        return new CommandRunner() {
            private List<String> inside(List<String> argv) {
                List<String> full = new ArrayList<>(prefix);
                full.addAll(argv);
                return full;
            }

            @Override
            public CommandResult run(List<String> argv, Duration timeout) throws IOException {
                return HOST.run(inside(argv), timeout);
            }

            @Override
            public CommandResult run(List<String> argv, Duration timeout, int maxOutputBytes) throws IOException {
                return HOST.run(inside(argv), timeout, maxOutputBytes);
            }
        };
    }

    /** Runs a command inside the namespace and returns how it ended. */
    public CommandResult exec(String... argv) throws IOException {
        return HOST.run(inside(List.of(argv)), TIMEOUT);
    }

    /** Runs a command inside the namespace that must succeed; returns its stdout. */
    public String run(String... argv) {
        try {
            CommandResult result = exec(argv);
            assertTrue(result.succeeded(), result.summary());
            return result.stdout();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts a long-running process inside the namespace; {@link #close()} kills it. */
    public Process start(String... argv) throws IOException {
        Process process = new ProcessBuilder(inside(List.of(argv))).redirectErrorStream(true).start();
        synchronized (started) {
            started.add(process);
        }
        return process;
    }

    private List<String> inside(List<String> argv) {
        List<String> full = new ArrayList<>(prefix());
        full.addAll(argv);
        return full;
    }

    @Override
    public void close() throws IOException {
        synchronized (started) {
            for (Process process : started) {
                process.destroyForcibly();
                try {
                    process.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            started.clear();
        }
        CommandResult deleted = HOST.run(List.of("ip", "netns", "del", name), TIMEOUT);
        assertTrue(deleted.succeeded(), deleted.summary());
    }
}
