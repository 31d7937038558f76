package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.ProcessCommandRunner;

/**
 * A network namespace ({@code mgnet-xxxxxxxx}, loopback up) for a plugin under
 * test, which creates a bridge, taps and iptables rules: none of it may touch
 * the host's own namespace. {@link #launcher()} is a wrapper that execs the
 * real plugin launcher inside the namespace (same pid, as the probe records
 * it); {@link #exec} runs a command (ping, iptables-save, ...) inside it.
 *
 * <p>The host's {@code /dev/net/tun} is used as it is (mode 0600 on this test bed): the
 * plugin's supervisor gives each networked tender a private node of its own.
 */
public final class PluginNamespace implements AutoCloseable {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final ProcessCommandRunner HOST = new ProcessCommandRunner();

    private final String name;
    private final Path launcher;
    private boolean deleted;

    private PluginNamespace(String name, Path launcher) {
        this.name = name;
        this.launcher = launcher;
    }

    /** Creates the namespace and writes the launcher wrapper into {@code dir}. */
    public static PluginNamespace create(Path dir, Path realLauncher) throws IOException {
        TestEnv.requireRoot("network namespace tests need root");
        String name = "mgnet-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        CommandResult added = HOST.run(List.of("ip", "netns", "add", name), TIMEOUT);
        assertTrue(added.succeeded(), added.summary());
        PluginNamespace ns = new PluginNamespace(name, dir.resolve("plugin-in-" + name + ".sh"));
        try {
            ns.run("ip", "link", "set", "lo", "up");
            ns.writeLauncher(dir, realLauncher);
        } catch (IOException | RuntimeException | Error e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    private void writeLauncher(Path dir, Path realLauncher) throws IOException {
        String enter = "exec nsenter --net=/run/netns/" + name + " " + quote(realLauncher.toString()) + " \"$@\"\n";
        String script = "#!/bin/sh\n" + enter;
        Files.writeString(launcher, script);
        executable(launcher);
    }

    private static void executable(Path file) throws IOException {
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    public String name() {
        return name;
    }

    /** The plugin executable to hand to the probe: the real launcher, run inside the namespace. */
    public Path launcher() {
        return launcher;
    }

    /** Runs a command inside the namespace and returns how it ended. */
    public CommandResult exec(String... argv) throws IOException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(List.of(argv));
        return HOST.run(full, TIMEOUT);
    }

    /** Runs a command inside the namespace that must succeed; returns its stdout. */
    public String run(String... argv) {
        try {
            CommandResult result = exec(argv);
            assertTrue(result.succeeded(), result.summary());
            return result.stdout();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Pids of the processes in the namespace (`ip netns pids`): the plugin, its supervisors and tenders. */
    public List<Long> pids() throws IOException {
        CommandResult result = HOST.run(List.of("ip", "netns", "pids", name), TIMEOUT);
        assertTrue(result.succeeded(), result.summary());
        return result.stdout().lines().map(String::strip).filter(l -> !l.isEmpty()).map(Long::valueOf).toList();
    }

    /** Deletes the namespace (its bridge, taps and rules go with it); idempotent. */
    @Override
    public void close() throws IOException {
        if (deleted) {
            return;
        }
        CommandResult result = HOST.run(List.of("ip", "netns", "del", name), TIMEOUT);
        deleted = true;
        assertTrue(result.succeeded(), result.summary());
    }
}
