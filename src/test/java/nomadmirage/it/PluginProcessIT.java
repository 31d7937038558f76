package nomadmirage.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import nomadmirage.testing.LaunchedPlugin;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The go-plugin process contract, checked on the real launcher. */
class PluginProcessIT {
    @TempDir
    Path tmp;

    @Test
    void withoutTheMagicCookieItExitsOneWithAMessageForAHuman() throws Exception {
        ProcessBuilder builder = new ProcessBuilder(List.of(TestEnv.launcher().toString()));
        builder.environment().remove(LaunchedPlugin.COOKIE_KEY);
        Process process = builder.start();
        assertTrue(exited(process));
        String stdout = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String stderr = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(1, process.exitValue());
        assertEquals("", stdout);
        assertTrue(stderr.contains("not meant to be run directly"), stderr);
        assertTrue(stderr.contains("NOMAD_PLUGIN_MAGIC_COOKIE"), stderr);
    }

    @Test
    void anUnsupportedProtocolVersionIsRefusedClearly() throws Exception {
        ProcessBuilder builder = new ProcessBuilder(List.of(TestEnv.launcher().toString()));
        builder.environment().put(LaunchedPlugin.COOKIE_KEY, LaunchedPlugin.COOKIE);
        builder.environment().put("PLUGIN_PROTOCOL_VERSIONS", "1,3");
        Process process = builder.start();
        assertTrue(exited(process));
        String stderr = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(1, process.exitValue());
        assertTrue(stderr.contains("speaks version 2"), stderr);
    }

    /** Waits up to a minute for the process to exit; SIGKILLs it if it does not. */
    private static boolean exited(Process process) throws InterruptedException {
        if (process.waitFor(60, TimeUnit.SECONDS)) {
            return true;
        }
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
        return false;
    }

    @Test
    void handshakeLineNamesAPrivateUnixSocketAndIsTheOnlyStdout() throws Exception {
        try (LaunchedPlugin plugin = LaunchedPlugin.start(Map.of("TMPDIR", tmp.toString()))) {
            assertTrue(plugin.handshakeLine.matches("1\\|2\\|unix\\|/[^|]+\\|grpc\\|"), plugin.handshakeLine);
            Path socket = Path.of(plugin.address());
            assertTrue(socket.startsWith(tmp), socket.toString());
            assertTrue(plugin.address().getBytes(StandardCharsets.UTF_8).length <= 107);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent())));
            assertEquals(ServingStatus.SERVING, plugin.health());

            // SIGTERM through the handle: Process.destroy() would also close our end of stdout.
            plugin.process.toHandle().destroy();
            assertTrue(plugin.process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(null, plugin.stdout.readLine(), "nothing may follow the handshake line on stdout");
            assertFalse(Files.exists(socket.getParent()), "socket directory left behind");
        }
    }

    @Test
    void removesTheSocketDirectoriesOfDeadPluginsButNotOfLiveOnes() throws Exception {
        // What a SIGKILLed plugin leaves: its directory with a socket nobody listens on.
        Path dead = Files.createDirectory(tmp.resolve("mirage-plugin-1"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        try (ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.bind(UnixDomainSocketAddress.of(dead.resolve("plugin.sock")));
        }
        makeOld(dead);
        Path elsewhere = Files.createDirectory(tmp.resolve("elsewhere"));
        Files.createSymbolicLink(tmp.resolve("mirage-plugin-link"), elsewhere);
        try (LaunchedPlugin first = LaunchedPlugin.start(Map.of("TMPDIR", tmp.toString()))) {
            assertFalse(Files.exists(dead, LinkOption.NOFOLLOW_LINKS), "the dead plugin's directory is left");
            assertTrue(Files.isSymbolicLink(tmp.resolve("mirage-plugin-link")));
            Path live = Path.of(first.address()).getParent();
            makeOld(live); // only the listening socket tells it is alive
            try (LaunchedPlugin second = LaunchedPlugin.start(Map.of("TMPDIR", tmp.toString()))) {
                assertTrue(Files.exists(Path.of(first.address())), "a live plugin's socket was removed");
                assertEquals(ServingStatus.SERVING, first.health());
                assertEquals(ServingStatus.SERVING, second.health());
            }
        }
        assertTrue(Files.isDirectory(elsewhere));
    }

    private static void makeOld(Path socketDir) throws java.io.IOException {
        FileTime old = FileTime.from(Instant.now().minus(Duration.ofMinutes(5)));
        Files.setLastModifiedTime(socketDir.resolve("plugin.sock"), old);
        Files.setLastModifiedTime(socketDir, old);
    }

    /** What a plugin that must not serve did: its exit status, stdout and stderr. */
    private record Refusal(int exitCode, String stdout, String stderr) {
    }

    /** Starts the launcher (or a wrapper of it) as Nomad would and waits for it to give up. */
    private Refusal refusal(Path launcher, Map<String, String> env) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(List.of(launcher.toString()));
        builder.environment().put(LaunchedPlugin.COOKIE_KEY, LaunchedPlugin.COOKIE);
        builder.environment().put("PLUGIN_PROTOCOL_VERSIONS", "2");
        builder.environment().put("TMPDIR", tmp.toString());
        builder.environment().putAll(env);
        builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process process = builder.start();
        // Read both pipes while waiting: a plugin that serves never closes them.
        var out = java.util.concurrent.CompletableFuture.supplyAsync(() -> readAll(process.getInputStream()));
        var err = java.util.concurrent.CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
        boolean exited = exited(process);
        String stdout = out.get(10, TimeUnit.SECONDS);
        String stderr = err.get(10, TimeUnit.SECONDS);
        assertTrue(exited, "the plugin kept running; stdout: " + stdout + "\nstderr: " + stderr);
        return new Refusal(process.exitValue(), stdout, stderr);
    }

    private static String readAll(java.io.InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            return "(" + e + ")";
        }
    }

    /**
     * A wrapper that runs the launcher in a private mount namespace with a fresh noexec tmpfs
     * (root-owned, 0700) mounted on {@code mountPoint}; nothing outside the namespace sees the mount.
     */
    private Path withNoexecMount(Path mountPoint) throws Exception {
        Path inside = tmp.resolve("noexec-inside.sh");
        Files.writeString(inside, "#!/bin/sh\n"
                + "set -e\n"
                + "# Run by unshare(1) only: never mount outside a private mount namespace.\n"
                + "if [ \"$(readlink /proc/self/ns/mnt)\" = \"$(readlink /proc/$PPID/ns/mnt)\" ]; then\n"
                + "  echo \"$0: not in a private mount namespace; refusing to mount\" >&2\n"
                + "  exit 1\n"
                + "fi\n"
                + "mkdir -p " + quote(mountPoint.toString()) + "\n"
                + "mount -t tmpfs -o noexec,nosuid,nodev,mode=0700,size=16m mirage-noexec " + quote(mountPoint.toString()) + "\n"
                + "exec " + quote(TestEnv.launcher().toString()) + " \"$@\"\n");
        Path outside = tmp.resolve("noexec-launcher.sh");
        Files.writeString(outside, "#!/bin/sh\nexec unshare --mount --propagation private " + quote(inside.toString())
                + " \"$@\"\n");
        for (Path script : List.of(inside, outside)) {
            Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return outside;
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    /** A refusal never printed a handshake (so the host connects nowhere) and said why on stderr. */
    private static void assertRefusedWithoutServing(Refusal refusal, String... mentions) {
        assertTrue(refusal.exitCode() != 0, "exit status " + refusal.exitCode() + "; stderr: " + refusal.stderr());
        assertEquals("", refusal.stdout(), "a refusing plugin prints no handshake line");
        assertFalse(refusal.stderr().contains("\"tcp\""), refusal.stderr());
        for (String mention : mentions) {
            assertTrue(refusal.stderr().contains(mention), "stderr lacks \"" + mention + "\": " + refusal.stderr());
        }
    }

    @Test
    void refusesToStartInsteadOfServingTcpWhenTheSocketPathIsTooLong() throws Exception {
        Path deep = Files.createDirectories(tmp.resolve("d".repeat(100)));
        Refusal refusal = refusal(TestEnv.launcher(), Map.of("PLUGIN_UNIX_SOCKET_DIR", deep.toString(),
                "PLUGIN_MIN_PORT", "23100", "PLUGIN_MAX_PORT", "23199"));
        assertRefusedWithoutServing(refusal, "107 bytes", "PLUGIN_UNIX_SOCKET_DIR", "TMPDIR", deep.toString());
        try (var dirs = Files.list(deep)) {
            assertEquals(List.of(), dirs.toList(), "the refused socket directory is left behind");
        }
    }

    @Test
    void refusesToStartInsteadOfServingTcpWhenNettysEpollLibraryCannotLoad() throws Exception {
        // Netty unpacks its native library into its work dir and loads it from there: on a noexec
        // mount that load fails, as it does on nodes whose /tmp is noexec.
        Path noexec = tmp.resolve("noexec");
        Refusal refusal = refusal(withNoexecMount(noexec),
                Map.of("MIRAGE_JAVA_OPTS", "-Dio.netty.native.workdir=" + noexec));
        assertRefusedWithoutServing(refusal, "epoll", "noexec");
    }

    @Test
    void refusesToStartWhenItsOwnNativeDirectoryIsNoexec() throws Exception {
        // The default: Netty's library goes to the plugin's own root-owned directory, not /tmp.
        Refusal refusal = refusal(withNoexecMount(Path.of("/var/lib/nomad-driver-mirage/native")), Map.of());
        assertRefusedWithoutServing(refusal, "epoll", "/var/lib/nomad-driver-mirage/native");
    }

    @Test
    void aNoexecTemporaryDirectoryDoesNotKeepThePluginFromItsUnixSocket() throws Exception {
        // java.io.tmpdir on a noexec mount, where Netty unpacks its library by default: the plugin
        // serves on its unix socket all the same (it unpacks into a directory of its own).
        Path noexec = tmp.resolve("noexec-tmp");
        Path launcher = withNoexecMount(noexec);
        try (LaunchedPlugin plugin = LaunchedPlugin.start(launcher,
                Map.of("TMPDIR", tmp.toString(), "MIRAGE_JAVA_OPTS", "-Djava.io.tmpdir=" + noexec))) {
            assertEquals("unix", plugin.network(), plugin.handshakeLine);
            assertEquals(ServingStatus.SERVING, plugin.health());
        }
    }

    @Test
    void inboundMessagesAreCappedAt4MiBAsGoPluginsCapThem() throws Exception {
        try (LaunchedPlugin plugin = LaunchedPlugin.start(Map.of("TMPDIR", tmp.toString()))) {
            assertEquals(Status.Code.RESOURCE_EXHAUSTED, plugin.setConfig(new byte[5 << 20]));
            assertEquals(Status.Code.INVALID_ARGUMENT, plugin.setConfig(new byte[3 << 20]), "3 MiB is read (and refused)");
            assertEquals(ServingStatus.SERVING, plugin.health());
        }
    }

    @Test
    void aRequestOfMillionsOfEmptyMessagesIsRefusedBeforeItIsDecoded() throws Exception {
        // 2,000,000 empty mounts: 4 MB on the wire, about 100 MB of objects once decoded; a few at
        // once (or one of 16 MB) would exhaust the plugin's heap.
        nomadmirage.proto.drivers.TaskConfig.Builder task = nomadmirage.proto.drivers.TaskConfig.newBuilder().setId("a/b/c");
        for (int i = 0; i < 2_000_000; i++) {
            task.addMounts(nomadmirage.proto.drivers.Mount.getDefaultInstance());
        }
        nomadmirage.proto.drivers.StartTaskRequest request =
                nomadmirage.proto.drivers.StartTaskRequest.newBuilder().setTask(task).build();
        assertTrue(request.getSerializedSize() < PluginServerLimits.MAX_MESSAGE_BYTES, "under the size limit");
        try (LaunchedPlugin plugin = LaunchedPlugin.start(Map.of("TMPDIR", tmp.toString()))) {
            List<java.util.concurrent.Future<Status.Code>> calls = new java.util.ArrayList<>();
            var pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                for (int i = 0; i < 4; i++) {
                    calls.add(pool.submit(() -> plugin.startTask(request)));
                }
                for (var call : calls) {
                    // gRPC answers UNKNOWN for any request it could not decode (the plugin logs why).
                    assertEquals(Status.Code.UNKNOWN, call.get(60, TimeUnit.SECONDS));
                }
            } finally {
                pool.shutdownNow();
            }
            assertTrue(plugin.process.isAlive(), "the plugin died");
            assertEquals(ServingStatus.SERVING, plugin.health());
        }
    }

    /** The plugin's limits as the test knows them. */
    private static final class PluginServerLimits {
        static final int MAX_MESSAGE_BYTES = 4 << 20;
    }

    @Test
    void hostileMsgpackInSetConfigIsRefusedAndThePluginKeepsServing() throws Exception {
        byte[] bin2GiB = HexFormat.of().parseHex("81a178c67fffffff");
        java.io.ByteArrayOutputStream nested = new java.io.ByteArrayOutputStream();
        nested.writeBytes(HexFormat.of().parseHex("81a178"));
        for (int i = 0; i < 60; i++) {
            nested.writeBytes(HexFormat.of().parseHex("dd00100000"));
        }
        try (LaunchedPlugin plugin = LaunchedPlugin.start(Map.of("TMPDIR", tmp.toString()))) {
            assertEquals(Status.Code.INVALID_ARGUMENT, plugin.setConfig(bin2GiB));
            assertEquals(Status.Code.INVALID_ARGUMENT, plugin.setConfig(nested.toByteArray()));
            assertTrue(plugin.process.isAlive(), "the plugin died");
            assertEquals(ServingStatus.SERVING, plugin.health());
        }
    }

    @Test
    void ignoresSigintLikeAGoPlugin() throws Exception {
        try (LaunchedPlugin plugin = LaunchedPlugin.start(Map.of("TMPDIR", tmp.toString()))) {
            Process kill = new ProcessBuilder("kill", "-INT", Long.toString(plugin.process.pid())).start();
            assertEquals(0, kill.waitFor());
            // A request answered after the signal shows the process neither died nor stopped serving.
            assertEquals(ServingStatus.SERVING, plugin.health());
            assertTrue(plugin.process.isAlive());
        }
    }

    @Test
    void keepsServingWhenTheAgentsPipesBreak() throws Exception {
        try (LaunchedPlugin plugin = LaunchedPlugin.start(Map.of("TMPDIR", tmp.toString()))) {
            plugin.stdout.close();
            plugin.process.getErrorStream().close();
            // Each rejected config logs an error line that now has nowhere to go.
            byte[] badBridge = HexFormat.of().parseHex("81a6627269646765" + "07"); // {"bridge": 7}
            for (int i = 0; i < 200; i++) {
                assertEquals(Status.Code.INVALID_ARGUMENT, plugin.setConfig(badBridge));
            }
            assertEquals(ServingStatus.SERVING, plugin.health());
            assertTrue(plugin.process.isAlive());
        }
    }
}
