package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
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
 * <p><b>/dev/net/tun.</b> The tender opens its tap itself, as the task user
 * ({@code nobody}). Debian's udev makes {@code /dev/net/tun} mode 0666; a host
 * without udev may leave it 0600, and then no unprivileged tender can attach a
 * tap. On such a host the wrapper also gives the plugin (and so its tenders) a
 * private mount namespace with a 0666 node for the same device (10:200)
 * mounted over {@code /dev/net/tun}; the host's node is not touched. Set
 * {@code MIRAGE_IT_HOST_TUN=1} to run with the host's node as it is.
 */
public final class PluginNamespace implements AutoCloseable {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final ProcessCommandRunner HOST = new ProcessCommandRunner();
    private static final Path TUN = Path.of("/dev/net/tun");

    private final String name;
    private final Path launcher;
    private final boolean privateTun;
    private boolean deleted;

    private PluginNamespace(String name, Path launcher, boolean privateTun) {
        this.name = name;
        this.launcher = launcher;
        this.privateTun = privateTun;
    }

    /** Creates the namespace and writes the launcher wrapper into {@code dir}. */
    public static PluginNamespace create(Path dir, Path realLauncher) throws IOException {
        TestEnv.requireRoot("network namespace tests need root");
        String name = "mgnet-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        CommandResult added = HOST.run(List.of("ip", "netns", "add", name), TIMEOUT);
        assertTrue(added.succeeded(), added.summary());
        boolean privateTun = !tunUsableByEveryone() && !"1".equals(System.getenv("MIRAGE_IT_HOST_TUN"));
        PluginNamespace ns = new PluginNamespace(name, dir.resolve("plugin-in-" + name + ".sh"), privateTun);
        try {
            ns.run("ip", "link", "set", "lo", "up");
            ns.writeLauncher(dir, realLauncher);
        } catch (IOException | RuntimeException | Error e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    private static boolean tunUsableByEveryone() throws IOException {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(TUN);
        return perms.contains(PosixFilePermission.OTHERS_READ) && perms.contains(PosixFilePermission.OTHERS_WRITE);
    }

    private void writeLauncher(Path dir, Path realLauncher) throws IOException {
        String enter = "exec nsenter --net=/run/netns/" + name + " " + quote(realLauncher.toString()) + " \"$@\"\n";
        String script;
        if (privateTun) {
            Path inside = dir.resolve("plugin-tun-" + name + ".sh");
            Path tunDir = Files.createDirectories(dir.resolve("tun-" + name));
            Files.writeString(inside, "#!/bin/sh\n"
                    + "# In the plugin's private mount namespace: a 0666 /dev/net/tun (see PluginNamespace).\n"
                    + "set -e\n"
                    + "# Run by unshare(1) only: never mount over the host's /dev/net/tun.\n"
                    + "if [ \"$(readlink /proc/self/ns/mnt)\" = \"$(readlink /proc/$PPID/ns/mnt)\" ]; then\n"
                    + "  echo \"$0: not in a private mount namespace; refusing to mount over /dev/net/tun\" >&2\n"
                    + "  exit 1\n"
                    + "fi\n"
                    + "mount -t tmpfs -o mode=0755,size=64k mgtun " + quote(tunDir.toString()) + "\n"
                    + "mknod -m 0666 " + quote(tunDir + "/tun") + " c 10 200\n"
                    + "mount --bind " + quote(tunDir + "/tun") + " /dev/net/tun\n"
                    + enter);
            executable(inside);
            script = "#!/bin/sh\nexec unshare --mount --propagation private " + quote(inside.toString()) + " \"$@\"\n";
        } else {
            script = "#!/bin/sh\n" + enter;
        }
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

    /** Whether the plugin gets a private 0666 /dev/net/tun because the host's is not usable by the task user. */
    public boolean privateTun() {
        return privateTun;
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
