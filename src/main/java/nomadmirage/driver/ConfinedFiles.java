package nomadmirage.driver;

import static java.nio.file.LinkOption.NOFOLLOW_LINKS;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import nomadmirage.proc.TaskUser;

/**
 * What the plugin, as root, does with files in directories a job can write (the task directory and
 * the shared alloc directory: expect symbolic links, FIFOs and entries swapped between a check and a
 * use). Every operation starts from a directory descriptor opened at the {@link ConfinedPath#root()}
 * and walks each component with openat(2) and O_NOFOLLOW ({@link SecureDirectoryStream}), checking
 * that each directory it opened is the one it looked at (same device and inode), so no path is ever
 * resolved through a link or a swapped directory:
 * <ul>
 * <li>{@link #read} opens a regular file for reading without blocking: in a directory others can
 *     write, with O_RDWR (opening a FIFO read-write never waits for a writer, fifo(7)); it then checks
 *     on the descriptor that it holds a seekable file of the size it saw, at the same inode.
 * <li>{@link #create} makes a new file with O_CREAT|O_EXCL|O_NOFOLLOW (never an existing file nor a
 *     link's target) in a private staging directory, extends it by writing its last byte through that
 *     descriptor (sparse), hands it to the task user there and renames it into place.
 * <li>{@link #checkRegular} only looks (lstat at the end of the walk): the tender opens existing files
 *     itself, as the task user.
 * </ul>
 * Java offers neither O_NONBLOCK, O_DIRECTORY nor O_PATH for openat, nor fstat or fchown on an open
 * file: a FIFO swapped in for a directory in the instant between its lstat and its open would block
 * that open. So each operation runs on a thread of its own and the caller waits at most
 * {@code limit}: past it the operation is refused (and undone if it completes later), and no lock of
 * the caller stays held.
 */
final class ConfinedFiles {
    static final Duration DEFAULT_LIMIT = Duration.ofSeconds(10);
    private static final Set<PosixFilePermission> OWNER_RW =
            EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
    private static final Set<PosixFilePermission> PRIVATE_DIR = EnumSet.of(PosixFilePermission.OWNER_READ,
            PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final ExecutorService IO = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "mirage-confined-io");
        t.setDaemon(true);
        return t;
    });

    /** A refusal: what the job's path turned out to be (a link, a FIFO, swapped, ...), not a node failure. */
    static final class Refused extends IOException {
        private static final long serialVersionUID = 1L;

        Refused(ConfinedPath file, String why) {
            super(file + ": " + why);
        }
    }

    /** Reads an opened, checked regular file. */
    @FunctionalInterface
    interface ChannelReader<T> {
        T read(FileChannel channel) throws IOException;
    }

    /** Points where a test acts between a check and the use that follows it; {@link #NONE} in production. */
    @FunctionalInterface
    interface Interleaving {
        Interleaving NONE = (step, dir, name) -> { };

        /**
         * Called before {@code step} on {@code dir}/{@code name}: "open-directory", "open-file", and for a
         * created file "staging" (its staging directory was just made), "chown" (the file is still in
         * there) and "move" (into place, after the check that nothing is there).
         */
        void before(String step, Path dir, Path name) throws IOException;
    }

    /**
     * A file {@link #create} made: deleted by {@link #deleteCreated} only while the name still is that
     * file, by inode and birth time (a file put in its place after a delete may get the same inode).
     */
    record Created(ConfinedPath file, Object fileKey, FileTime born) {
    }

    private final Duration limit;
    private final Interleaving interleaving;

    ConfinedFiles() {
        this(DEFAULT_LIMIT, Interleaving.NONE);
    }

    ConfinedFiles(Duration limit, Interleaving interleaving) {
        this.limit = limit;
        this.interleaving = interleaving;
    }

    /** Opens {@code file}, a non-empty regular file, for reading, and hands the checked channel to {@code reader}. */
    <T> T read(ConfinedPath file, ChannelReader<T> reader) throws IOException {
        return bounded(file, "opening", cancelled -> {
            try (SecureDirectoryStream<Path> dir = walk(file)) {
                Path name = file.fileName();
                BasicFileAttributes seen = lstat(dir, file, name);
                if (!seen.isRegularFile()) {
                    throw new Refused(file, "is " + kind(seen) + ", not a regular file");
                }
                if (seen.size() == 0) {
                    throw new Refused(file, "is empty");
                }
                interleaving.before("open-file", file.path().getParent(), name);
                try (FileChannel channel = openForReading(dir, file, name)) {
                    try {
                        channel.position(); // lseek(2) fails on a FIFO or a socket
                    } catch (IOException e) {
                        throw new Refused(file, "was replaced by a FIFO or another special file while it was opened");
                    }
                    BasicFileAttributes again = lstat(dir, file, name);
                    if (channel.size() != seen.size() || !again.isRegularFile()
                            || !Objects.equals(again.fileKey(), seen.fileKey())) {
                        throw new Refused(file, "was replaced or changed while it was opened");
                    }
                    return reader.read(channel);
                }
            }
        });
    }

    /** The size of {@code file}, which must be a regular file reached without following any link. */
    long checkRegular(ConfinedPath file) throws IOException {
        return bounded(file, "checking", cancelled -> {
            try (SecureDirectoryStream<Path> dir = walk(file)) {
                BasicFileAttributes seen = lstat(dir, file, file.fileName());
                if (!seen.isRegularFile()) {
                    throw new Refused(file, "is " + kind(seen) + ", not a regular file");
                }
                return seen.size();
            }
        });
    }

    /**
     * Creates {@code file}, which must not exist, as a sparse file of {@code size} bytes, mode 0600,
     * owned by {@code owner} (by the plugin's user when empty).
     *
     * <p>The file is made in a private staging directory (root's, 0700) in the confinement root, where
     * nobody else can touch its name: created with O_CREAT|O_EXCL, extended through that descriptor,
     * chowned by name there, and only then renamed into place with renameat(2) from the staging
     * descriptor to the walked one. The job never sees the file before it is complete and the task
     * user's, so no swap of its name can redirect a write or a chown. The staging directory is made by
     * path (Java has no mkdirat), which is safe in the root only: the job cannot replace the root's own
     * entry, and the directory is then opened through the root's descriptor and checked to be the
     * plugin's own. The file must be on the root's filesystem (the plan checks it).
     */
    Created create(ConfinedPath file, long size, Optional<TaskUser> owner) throws IOException {
        if (size <= 0) {
            throw new IllegalArgumentException("size must be positive: " + size);
        }
        return bounded(file, "creating", cancelled -> {
            Path name = file.fileName();
            Object key;
            FileTime born;
            try (SecureDirectoryStream<Path> root = openRoot(file)) {
                Path stagingName = Path.of(".mirage-" + HexFormat.of().formatHex(randomBytes(8)));
                try {
                    Files.createDirectory(file.root().resolve(stagingName),
                            PosixFilePermissions.asFileAttribute(PRIVATE_DIR));
                } catch (FileSystemException e) {
                    throw new Refused(file, "cannot make a staging directory in " + file.root() + ": "
                            + Optional.ofNullable(e.getReason()).orElse(e.toString()));
                }
                try {
                    interleaving.before("staging", file.root(), stagingName);
                    try (SecureDirectoryStream<Path> staging = openPrivate(root, file, file.root(), stagingName)) {
                        try {
                            BasicFileAttributes made = createSparse(staging, file, name, size);
                            key = made.fileKey();
                            born = made.creationTime();
                            if (owner.isPresent()) {
                                interleaving.before("chown", file.path().getParent(), name);
                                handOver(staging, file, file.root().resolve(stagingName).resolve(name), name, key,
                                        owner.get());
                            }
                            try (SecureDirectoryStream<Path> dir = walk(file)) {
                                refuseIfPresent(dir, file, name);
                                interleaving.before("move", file.path().getParent(), name);
                                // renameat(2): the complete file appears at once; nothing is followed.
                                staging.move(name, dir, name);
                            }
                        } catch (AtomicMoveNotSupportedException e) {
                            deleteQuietly(staging, name, e);
                            throw new Refused(file, "is on another filesystem than " + file.root()
                                    + ", where the plugin prepares new block files");
                        } catch (IOException | RuntimeException e) {
                            deleteQuietly(staging, name, e);
                            throw e;
                        }
                    }
                } finally {
                    removeStaging(root, stagingName);
                }
            }
            Created created = new Created(file, key, born);
            if (cancelled.get()) {
                deleteIfStill(created);
                throw new Refused(file, "was created after the caller gave up; removed");
            }
            return created;
        });
    }

    /** Removes a file {@link #create} made, unless its name now holds something else. */
    void deleteCreated(Created created) throws IOException {
        bounded(created.file(), "removing", cancelled -> {
            deleteIfStill(created);
            return null;
        });
    }

    private void deleteIfStill(Created created) throws IOException {
        try (SecureDirectoryStream<Path> dir = walk(created.file())) {
            Path name = created.file().fileName();
            BasicFileAttributes now;
            try {
                now = lstat(dir, created.file(), name);
            } catch (Refused gone) {
                return;
            }
            if (now.isRegularFile() && Objects.equals(now.fileKey(), created.fileKey())
                    && Objects.equals(now.creationTime(), created.born())) {
                dir.deleteFile(name);
            }
        }
    }

    private static void refuseIfPresent(SecureDirectoryStream<Path> dir, ConfinedPath file, Path name)
            throws IOException {
        try {
            BasicFileAttributes there = dir.getFileAttributeView(name, BasicFileAttributeView.class, NOFOLLOW_LINKS)
                    .readAttributes();
            throw new Refused(file, "already exists (as " + kind(there) + ") though it did not when the start was "
                    + "planned");
        } catch (NoSuchFileException expected) {
            // not there: good
        }
    }

    /** The staging directory, opened through {@code dir}: a directory of the plugin's user that nobody else can write. */
    private SecureDirectoryStream<Path> openPrivate(SecureDirectoryStream<Path> dir, ConfinedPath file, Path at,
            Path name) throws IOException {
        SecureDirectoryStream<Path> staging = openChild(dir, file, at, name);
        try {
            PosixFileAttributes attrs = staging.getFileAttributeView(PosixFileAttributeView.class).readAttributes();
            if (!attrs.owner().equals(PluginUser.PRINCIPAL)
                    || !PRIVATE_DIR.containsAll(attrs.permissions())) {
                throw new Refused(file, "its staging directory " + at.resolve(name) + " was replaced by one that is "
                        + "not the plugin's own");
            }
            return staging;
        } catch (IOException | RuntimeException e) {
            staging.close();
            throw e;
        }
    }

    private static void removeStaging(SecureDirectoryStream<Path> root, Path name) {
        try {
            // unlinkat(AT_REMOVEDIR) through the root's descriptor: only an empty directory, never through a link.
            root.deleteDirectory(name);
        } catch (IOException | RuntimeException e) {
            // the job moved it away: an empty directory of root's is left in the job's directories
        }
    }

    private static void deleteQuietly(SecureDirectoryStream<Path> dir, Path name, Exception failure) {
        try {
            dir.deleteFile(name);
        } catch (NoSuchFileException gone) {
            // never made, or already moved
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    /** O_CREAT|O_EXCL|O_NOFOLLOW: a new, empty regular file; writing its last byte makes it {@code size} long, sparse. */
    private static BasicFileAttributes createSparse(SecureDirectoryStream<Path> staging, ConfinedPath file, Path name,
            long size)
            throws IOException {
        Set<OpenOption> options = Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, NOFOLLOW_LINKS);
        try (SeekableByteChannel channel = staging.newByteChannel(name, options,
                PosixFilePermissions.asFileAttribute(OWNER_RW))) {
            channel.position(size - 1);
            channel.write(ByteBuffer.wrap(new byte[1]));
            if (channel.size() != size) {
                throw new IOException(file + ": created at " + channel.size() + " bytes, not " + size);
            }
        }
        return lstat(staging, file, name);
    }

    /** chown by name, in the staging directory nobody else can write; checked by number afterwards. */
    private static void handOver(SecureDirectoryStream<Path> staging, ConfinedPath file, Path pathInStaging, Path name,
            Object key, TaskUser owner) throws IOException {
        UserPrincipalLookupService users = FileSystems.getDefault().getUserPrincipalLookupService();
        PosixFileAttributeView view = staging.getFileAttributeView(name, PosixFileAttributeView.class, NOFOLLOW_LINKS);
        view.setOwner(users.lookupPrincipalByName(Integer.toString(owner.uid())));
        view.setGroup(users.lookupPrincipalByGroupName(Integer.toString(owner.gid())));
        Map<String, Object> after;
        try {
            after = Files.readAttributes(pathInStaging, "unix:fileKey,uid,gid", NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            throw new Refused(file, "its staging directory was moved while the file was handed over");
        }
        if (!Objects.equals(after.get("fileKey"), key) || !Integer.valueOf(owner.uid()).equals(after.get("uid"))
                || !Integer.valueOf(owner.gid()).equals(after.get("gid"))) {
            throw new IOException(file + ": could not hand the new file to uid " + owner.uid() + ", gid " + owner.gid()
                    + " (it is uid " + after.get("uid") + ", gid " + after.get("gid") + ")");
        }
    }

    private static byte[] randomBytes(int n) {
        byte[] out = new byte[n];
        RANDOM.nextBytes(out);
        return out;
    }

    /**
     * Opens {@code name} in {@code dir} for reading, never waiting on a FIFO. In a directory only the
     * plugin's user can write, nobody can swap the name after the lstat, and O_RDONLY is used; in any
     * other, O_RDWR, because opening a FIFO read-write never waits for a writer (fifo(7)) — falling
     * back to O_RDONLY only on a read-only mount, where no entry can be swapped either.
     */
    private static FileChannel openForReading(SecureDirectoryStream<Path> dir, ConfinedPath file, Path name)
            throws IOException {
        Set<OpenOption> readOnly = Set.of(StandardOpenOption.READ, NOFOLLOW_LINKS);
        SeekableByteChannel channel;
        try {
            channel = dir.newByteChannel(name, onlyOursCanWrite(dir) ? readOnly
                    : Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE, NOFOLLOW_LINKS));
        } catch (NoSuchFileException e) {
            throw new Refused(file, "vanished while it was opened");
        } catch (IOException e) {
            // ELOOP (a link was swapped in), EISDIR, ETXTBSY, EROFS, EPERM (immutable), ...
            if (!isReadOnly(file)) {
                throw refusedOpen(file, e);
            }
            try {
                channel = dir.newByteChannel(name, readOnly);
            } catch (IOException again) {
                throw refusedOpen(file, again);
            }
        }
        if (!(channel instanceof FileChannel fileChannel)) {
            channel.close();
            throw new IOException(file + ": opened as " + channel.getClass().getName() + ", not a file channel");
        }
        return fileChannel;
    }

    /** Whether the open directory belongs to the plugin's user and nobody else may write it (fstat). */
    private static boolean onlyOursCanWrite(SecureDirectoryStream<Path> dir) throws IOException {
        PosixFileAttributes attrs = dir.getFileAttributeView(PosixFileAttributeView.class).readAttributes();
        return attrs.owner().equals(PluginUser.PRINCIPAL)
                && !attrs.permissions().contains(PosixFilePermission.GROUP_WRITE)
                && !attrs.permissions().contains(PosixFilePermission.OTHERS_WRITE);
    }

    private static Refused refusedOpen(ConfinedPath file, IOException e) {
        String reason = e instanceof FileSystemException fse && fse.getReason() != null ? fse.getReason() : e.getMessage();
        return new Refused(file, "cannot be opened: " + reason);
    }

    private static boolean isReadOnly(ConfinedPath file) {
        try {
            return Files.getFileStore(file.path()).isReadOnly();
        } catch (IOException e) {
            return false;
        }
    }

    /** The directory holding {@code file}, reached from its root through real directories only. */
    private SecureDirectoryStream<Path> walk(ConfinedPath file) throws IOException {
        SecureDirectoryStream<Path> dir = openRoot(file);
        try {
            Path parents = file.relative().getParent();
            Path at = file.root();
            if (parents != null) {
                for (Path name : parents) {
                    SecureDirectoryStream<Path> next = openChild(dir, file, at, name);
                    dir.close();
                    dir = next;
                    at = at.resolve(name);
                }
            }
            return dir;
        } catch (IOException | RuntimeException e) {
            dir.close();
            throw e;
        }
    }

    private static SecureDirectoryStream<Path> openRoot(ConfinedPath file) throws IOException {
        DirectoryStream<Path> stream = Files.newDirectoryStream(file.root());
        if (stream instanceof SecureDirectoryStream<Path> secure) {
            return secure;
        }
        stream.close();
        throw new IOException("cannot open " + file + " safely: this platform has no openat(2)");
    }

    private SecureDirectoryStream<Path> openChild(SecureDirectoryStream<Path> dir, ConfinedPath file, Path at, Path name)
            throws IOException {
        BasicFileAttributes seen = lstat(dir, file, name);
        if (!seen.isDirectory()) {
            throw new Refused(file, at.resolve(name) + " is " + kind(seen) + ", not a directory");
        }
        interleaving.before("open-directory", at, name);
        SecureDirectoryStream<Path> next;
        try {
            next = dir.newDirectoryStream(name, NOFOLLOW_LINKS);
        } catch (NoSuchFileException | NotDirectoryException e) {
            throw new Refused(file, at.resolve(name) + " was replaced while it was opened");
        } catch (FileSystemException e) {
            // ELOOP: a symbolic link was swapped in.
            throw new Refused(file, at.resolve(name) + " was replaced while it was opened ("
                    + Optional.ofNullable(e.getReason()).orElse(e.toString()) + ")");
        }
        try {
            BasicFileAttributes opened = next.getFileAttributeView(BasicFileAttributeView.class).readAttributes();
            if (!opened.isDirectory() || !Objects.equals(opened.fileKey(), seen.fileKey())) {
                throw new Refused(file, at.resolve(name) + " was replaced while it was opened");
            }
            return next;
        } catch (IOException | RuntimeException e) {
            next.close();
            throw e;
        }
    }

    private static BasicFileAttributes lstat(SecureDirectoryStream<Path> dir, ConfinedPath file, Path name)
            throws IOException {
        try {
            return dir.getFileAttributeView(name, BasicFileAttributeView.class, NOFOLLOW_LINKS).readAttributes();
        } catch (NoSuchFileException e) {
            throw new Refused(file, name + " does not exist (any more)");
        }
    }

    private static String kind(BasicFileAttributes attrs) {
        if (attrs.isSymbolicLink()) {
            return "a symbolic link";
        }
        if (attrs.isDirectory()) {
            return "a directory";
        }
        if (attrs.isRegularFile()) {
            return "a regular file";
        }
        return "a FIFO, socket or device";
    }

    /** An operation that may block on a swapped-in FIFO; {@code cancelled} is set once the caller gave up. */
    @FunctionalInterface
    private interface Operation<T> {
        T run(AtomicBoolean cancelled) throws IOException;
    }

    private <T> T bounded(ConfinedPath file, String what, Operation<T> operation) throws IOException {
        AtomicBoolean cancelled = new AtomicBoolean();
        Callable<T> call = () -> operation.run(cancelled);
        Future<T> future = IO.submit(call);
        try {
            return future.get(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            cancelled.set(true);
            // Not interrupted: an open(2) blocked on a FIFO ignores it; the thread ends once the FIFO is opened.
            throw new Refused(file, what + " it did not finish within " + limit.toMillis() + " ms: a FIFO was "
                    + "swapped into the path while it was opened");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IOException(file + ": " + cause, cause);
        } catch (InterruptedException e) {
            cancelled.set(true);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while " + what + " " + file);
        }
    }

    /** The plugin's own user, looked up once (each lookup reads the user database). */
    private static final class PluginUser {
        static final UserPrincipal PRINCIPAL = lookUp();

        private static UserPrincipal lookUp() {
            try {
                return Files.getOwner(Path.of("/proc/self"));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("cannot tell the plugin's own user from /proc/self", e);
            }
        }
    }
}
