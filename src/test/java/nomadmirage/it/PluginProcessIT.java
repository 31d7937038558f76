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

    @Test
    void fallsBackToLoopbackTcpInTheHostsPortRangeWhenTheSocketPathIsTooLong() throws Exception {
        Path deep = Files.createDirectories(tmp.resolve("d".repeat(100)));
        try (LaunchedPlugin plugin = LaunchedPlugin.start(Map.of("PLUGIN_UNIX_SOCKET_DIR", deep.toString(),
                "PLUGIN_MIN_PORT", "23100", "PLUGIN_MAX_PORT", "23199"))) {
            assertEquals("tcp", plugin.network(), plugin.handshakeLine);
            assertTrue(plugin.address().startsWith("127.0.0.1:"), plugin.address());
            int port = Integer.parseInt(plugin.address().substring("127.0.0.1:".length()));
            assertTrue(port >= 23100 && port <= 23199, plugin.address());
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
