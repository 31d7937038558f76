package nomadmirage.state;

import static java.nio.file.LinkOption.NOFOLLOW_LINKS;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The node-local secret the plugin authenticates its driver state with
 * ({@link StateDirectory#driverStateKey()}): {@value #LENGTH} random bytes in a
 * regular file owned by the plugin's user, mode 0600, created on first use.
 * It is read without following a symbolic link and only when the file and the
 * directory holding it are the plugin's own and writable by nobody else, so
 * whoever can write elsewhere on the node can neither read nor plant it.
 */
public final class NodeKey {
    public static final int LENGTH = 32;
    private static final Set<PosixFilePermission> OWNER_ONLY =
            EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);

    private NodeKey() {
    }

    /** The key in {@code file}; empty when there is none. Fails when the file is not a key the plugin made. */
    public static Optional<byte[]> load(Path file) throws IOException {
        PosixFileAttributes before;
        try {
            before = Files.readAttributes(file, PosixFileAttributes.class, NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        int uid = effectiveUid();
        checkDirectory(file.toAbsolutePath().getParent(), uid);
        if (!before.isRegularFile()) {
            throw new IOException(file + " is not a regular file" + (before.isSymbolicLink() ? " (a symbolic link)" : ""));
        }
        if (uidOf(file) != uid) {
            throw new IOException(file + " is owned by uid " + uidOf(file) + ", not by the plugin's uid " + uid);
        }
        if (!OWNER_ONLY.containsAll(before.permissions())) {
            throw new IOException(file + " has mode " + PosixFilePermissions.toString(before.permissions())
                    + "; a key must be readable by its owner only (rw-------)");
        }
        if (before.size() != LENGTH) {
            throw new IOException(file + " is " + before.size() + " bytes, not a " + LENGTH + "-byte key");
        }
        ByteBuffer key = ByteBuffer.allocate(LENGTH + 1);
        try (SeekableByteChannel channel = Files.newByteChannel(file, Set.of(StandardOpenOption.READ, NOFOLLOW_LINKS))) {
            while (key.hasRemaining() && channel.read(key) >= 0) {
                // read up to one byte more than a key, to see a file that grew
            }
        }
        PosixFileAttributes after = Files.readAttributes(file, PosixFileAttributes.class, NOFOLLOW_LINKS);
        if (key.position() != LENGTH || !Objects.equals(before.fileKey(), after.fileKey())) {
            throw new IOException(file + " changed while it was read");
        }
        return Optional.of(java.util.Arrays.copyOf(key.array(), LENGTH));
    }

    /** The key in {@code file}, made (random, 0600) when there is none yet; concurrent callers get the same key. */
    public static byte[] loadOrCreate(Path file) throws IOException {
        Optional<byte[]> existing = load(file);
        if (existing.isPresent()) {
            return existing.get();
        }
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        checkDirectory(dir, effectiveUid());
        Path tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp",
                PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        try {
            byte[] fresh = new byte[LENGTH];
            new SecureRandom().nextBytes(fresh);
            try (SeekableByteChannel channel = Files.newByteChannel(tmp,
                    Set.of(StandardOpenOption.WRITE, StandardOpenOption.DSYNC, NOFOLLOW_LINKS))) {
                ByteBuffer buffer = ByteBuffer.wrap(fresh);
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
            }
            try {
                // link(2) never replaces: of two plugins creating the key at once, one wins and both use its key.
                Files.createLink(file, tmp);
                AtomicFiles.syncDirectory(dir);
            } catch (FileAlreadyExistsException raced) {
                // another plugin process made it first
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        return load(file).orElseThrow(() -> new IOException(file + " vanished right after it was created"));
    }

    private static void checkDirectory(Path dir, int uid) throws IOException {
        PosixFileAttributes attrs = Files.readAttributes(dir, PosixFileAttributes.class);
        Set<PosixFilePermission> perms = attrs.permissions();
        if (uidOf(dir) != uid || perms.contains(PosixFilePermission.GROUP_WRITE)
                || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new IOException("the state directory " + dir + " must belong to the plugin's uid " + uid
                    + " and be writable by nobody else (it is uid " + uidOf(dir) + ", "
                    + PosixFilePermissions.toString(perms) + ")");
        }
    }

    private static int uidOf(Path path) throws IOException {
        return (Integer) Files.getAttribute(path, "unix:uid", NOFOLLOW_LINKS);
    }

    /** The plugin's effective uid, from /proc/self/status. */
    static int effectiveUid() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("Uid:")) {
                return Integer.parseInt(line.split("\\s+")[2]);
            }
        }
        throw new IOException("/proc/self/status has no Uid line");
    }
}
