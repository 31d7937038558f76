package nomadmirage.goplugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StaleSocketDirsTest {
    @TempDir
    Path base;

    private final List<ServerSocketChannel> listening = new ArrayList<>();

    @AfterEach
    void closeListeners() throws IOException {
        for (ServerSocketChannel channel : listening) {
            channel.close();
        }
    }

    private Path dir(String name) throws IOException {
        return Files.createDirectory(base.resolve(name),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }

    /** A socket some plugin listens on. */
    private Path liveSocket(Path dir) throws IOException {
        Path socket = dir.resolve("plugin.sock");
        ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        channel.bind(UnixDomainSocketAddress.of(socket));
        listening.add(channel);
        return socket;
    }

    /** A socket whose plugin died: the file is left, nobody listens. */
    private static Path deadSocket(Path dir) throws IOException {
        Path socket = dir.resolve("plugin.sock");
        try (ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.bind(UnixDomainSocketAddress.of(socket));
        }
        assertTrue(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "closing the channel removed the socket file");
        return socket;
    }

    private UserPrincipal us() throws IOException {
        return Files.getOwner(base);
    }

    private Set<String> left() throws IOException {
        try (Stream<Path> entries = Files.list(base)) {
            return entries.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    @Test
    void removesExactlyTheDeadPluginsDirectories() throws Exception {
        Path live = liveSocket(dir("mirage-plugin-live"));
        deadSocket(dir("mirage-plugin-dead1"));
        deadSocket(dir("mirage-plugin-dead2"));
        dir("mirage-plugin-empty"); // killed before it bound its socket

        // A symbolic link with our name pointing at a directory that looks stale: neither may go.
        Path elsewhere = dir("elsewhere");
        Path elsewhereSocket = deadSocket(elsewhere);
        Files.createSymbolicLink(base.resolve("mirage-plugin-x"), elsewhere);
        // ... nor a link to a dead socket's directory's socket.
        Path linkDir = dir("mirage-plugin-link");
        Files.createSymbolicLink(linkDir.resolve("plugin.sock"), elsewhereSocket);

        Path foreign = dir("mirage-plugin-foreign");
        deadSocket(foreign);
        Files.writeString(foreign.resolve("notes.txt"), "not the plugin's");
        Files.writeString(dir("mirage-plugin-file").resolve("plugin.sock"), "a regular file, not a socket");
        dir("mirage-plugin-nested").resolve("plugin.sock").toFile().mkdir();
        Path writable = dir("mirage-plugin-writable");
        deadSocket(writable);
        Files.setPosixFilePermissions(writable, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.writeString(base.resolve("mirage-plugin-regular"), "a file");
        deadSocket(dir("other-prefix"));
        dir("mirage-plugin-ours"); // the caller's own new directory

        List<Path> removed = StaleSocketDirs.remove(base, us(), "mirage-plugin-ours", Duration.ZERO);

        assertEquals(Set.of(base.resolve("mirage-plugin-dead1"), base.resolve("mirage-plugin-dead2"),
                base.resolve("mirage-plugin-empty")), Set.copyOf(removed));
        assertEquals(Set.of("mirage-plugin-live", "elsewhere", "mirage-plugin-x", "mirage-plugin-link",
                "mirage-plugin-foreign", "mirage-plugin-file", "mirage-plugin-nested", "mirage-plugin-writable",
                "mirage-plugin-regular", "other-prefix", "mirage-plugin-ours"), left());
        assertTrue(Files.exists(elsewhereSocket, LinkOption.NOFOLLOW_LINKS), "followed the symbolic link");
        assertTrue(Files.isSymbolicLink(base.resolve("mirage-plugin-x")));
        assertTrue(Files.exists(foreign.resolve("plugin.sock"), LinkOption.NOFOLLOW_LINKS));
        // The live plugin still answers.
        try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(live))) {
            assertTrue(client.isConnected());
        }
    }

    @Test
    void leavesOtherUsersDirectories() throws Exception {
        Path dead = dir("mirage-plugin-dead");
        deadSocket(dead);
        UserPrincipal someoneElse = base.getFileSystem().getUserPrincipalLookupService()
                .lookupPrincipalByName(us().getName().equals("nobody") ? "root" : "nobody");

        assertEquals(List.of(), StaleSocketDirs.remove(base, someoneElse, "", Duration.ZERO));
        assertTrue(Files.exists(dead.resolve("plugin.sock"), LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void leavesDirectoriesOfPluginsThatMayStillBeStarting() throws Exception {
        deadSocket(dir("mirage-plugin-dead"));
        dir("mirage-plugin-empty");

        assertEquals(List.of(), StaleSocketDirs.remove(base, us(), "", Duration.ofMinutes(1)));
        assertEquals(Set.of("mirage-plugin-dead", "mirage-plugin-empty"), left());
    }

    @Test
    void aMissingBaseDirectoryIsAnError() {
        assertThrows(IOException.class,
                () -> StaleSocketDirs.remove(base.resolve("nope"), us(), "", Duration.ZERO));
    }

    @Test
    void connectRefusedOnlyWhenNobodyListens() throws Exception {
        Path live = liveSocket(dir("a"));
        Path dead = deadSocket(dir("b"));
        assertFalse(StaleSocketDirs.connectRefused(live));
        assertTrue(StaleSocketDirs.connectRefused(dead));
        assertFalse(StaleSocketDirs.connectRefused(base.resolve("missing.sock")));
    }
}
