package nomadmirage.goplugin;

import static java.nio.file.LinkOption.NOFOLLOW_LINKS;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Removes the socket directories that earlier plugin processes left in the
 * socket base directory when they died without cleaning up (SIGKILL, OOM
 * kill, power loss).
 *
 * <p>The base directory is usually /tmp: world-writable, and shared with
 * other plugin processes (other agents, other users) that are alive. So a
 * directory is removed only when all of these hold:
 * <ul>
 * <li>its name starts with {@value #PREFIX};
 * <li>it is a real directory (lstat: a symbolic link is never followed nor removed);
 * <li>it is owned by {@code owner} (our uid) and neither group- nor world-writable;
 * <li>it is empty, or holds nothing but a unix socket named {@value #SOCKET}
 *     on which a connect is refused (nobody listens);
 * <li>it and its socket are older than {@code minAge}, so that a plugin that
 *     is starting right now (directory made, socket not yet listening) keeps its own.
 * </ul>
 * Every step works relative to open directory handles
 * ({@link SecureDirectoryStream}, NOFOLLOW), so swapping a directory for a
 * symbolic link between the checks and the removal removes nothing else.
 */
final class StaleSocketDirs {
    static final String PREFIX = "mirage-plugin-";
    static final String SOCKET = "plugin.sock";
    /** Comfortably longer than a starting plugin takes from making its directory to listening. */
    static final Duration MIN_AGE = Duration.ofMinutes(1);

    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private StaleSocketDirs() {
    }

    /**
     * Removes the stale socket directories in {@code base} (see the class
     * comment), never the one named {@code keep}; returns the paths removed.
     * Entries that cannot be examined are left alone.
     */
    static List<Path> remove(Path base, UserPrincipal owner, String keep, Duration minAge) throws IOException {
        Instant youngest = Instant.now().minus(minAge);
        List<Path> removed = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(base, PREFIX + "*")) {
            if (!(stream instanceof SecureDirectoryStream<Path> secure)) {
                return removed; // no openat(2): no way to do this without following links
            }
            List<Path> names = new ArrayList<>();
            stream.forEach(entry -> names.add(entry.getFileName()));
            for (Path name : names) {
                if (name.toString().equals(keep)) {
                    continue;
                }
                try {
                    if (removeIfStale(secure, base, name, owner, youngest)) {
                        removed.add(base.resolve(name));
                    }
                } catch (IOException | RuntimeException e) {
                    // vanished, not ours or not readable: leave it
                }
            }
        }
        return removed;
    }

    private static boolean removeIfStale(SecureDirectoryStream<Path> base, Path baseDir, Path name,
            UserPrincipal owner, Instant youngest) throws IOException {
        PosixFileAttributes attrs = base.getFileAttributeView(name, PosixFileAttributeView.class, NOFOLLOW_LINKS)
                .readAttributes();
        if (!attrs.isDirectory() || !owner.equals(attrs.owner())
                || attrs.permissions().contains(PosixFilePermission.GROUP_WRITE)
                || attrs.permissions().contains(PosixFilePermission.OTHERS_WRITE)) {
            return false;
        }
        try (SecureDirectoryStream<Path> dir = base.newDirectoryStream(name, NOFOLLOW_LINKS)) {
            BasicFileAttributes self = dir.getFileAttributeView(BasicFileAttributeView.class).readAttributes();
            if (!Objects.equals(self.fileKey(), attrs.fileKey())) {
                return false; // replaced since the lstat
            }
            List<String> entries = new ArrayList<>();
            dir.forEach(entry -> entries.add(entry.getFileName().toString()));
            if (entries.size() > 1 || (entries.size() == 1 && !entries.getFirst().equals(SOCKET))) {
                return false;
            }
            if (self.lastModifiedTime().toInstant().isAfter(youngest)) {
                return false;
            }
            if (!entries.isEmpty()) {
                Path socket = Path.of(SOCKET);
                PosixFileAttributes socketAttrs = dir.getFileAttributeView(socket, PosixFileAttributeView.class,
                        NOFOLLOW_LINKS).readAttributes();
                Path socketPath = baseDir.resolve(name).resolve(SOCKET);
                if (!socketAttrs.isOther() || !isSocket(socketPath)
                        || socketAttrs.lastModifiedTime().toInstant().isAfter(youngest)
                        || !connectRefused(socketPath)) {
                    return false;
                }
                dir.deleteFile(socket);
            }
            BasicFileAttributes again = base.getFileAttributeView(name, BasicFileAttributeView.class, NOFOLLOW_LINKS)
                    .readAttributes();
            if (!again.isDirectory() || !Objects.equals(again.fileKey(), attrs.fileKey())) {
                return false;
            }
            // rmdir: fails on anything but an empty directory, never follows a link.
            base.deleteDirectory(name);
            return true;
        }
    }

    private static boolean isSocket(Path path) throws IOException {
        return ((Integer) Files.getAttribute(path, "unix:mode", NOFOLLOW_LINKS) & S_IFMT) == S_IFSOCK;
    }

    /**
     * Whether a connect to the socket is refused, i.e. nobody listens on it. A
     * connect that succeeds or is pending (full backlog), or any other error,
     * counts as alive. Non-blocking, so a busy listener cannot hold us up.
     */
    static boolean connectRefused(Path socket) {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.configureBlocking(false);
            channel.connect(UnixDomainSocketAddress.of(socket));
            return false;
        } catch (ConnectException e) {
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
