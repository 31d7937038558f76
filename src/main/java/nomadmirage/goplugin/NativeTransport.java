package nomadmirage.goplugin;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;

/**
 * Netty's native epoll transport, the only transport the plugin serves on (a unix socket; never
 * TCP, which every local user could reach). Netty copies its JNI library out of its jar into a
 * work directory and loads it from there. Its default is {@code java.io.tmpdir}, which hardened
 * nodes mount noexec; so a root plugin has it unpacked into {@link #ROOT_WORKDIR}, a directory of
 * its own on the root filesystem, owned by root and 0700, checked before use.
 */
public final class NativeTransport {
    /** Netty's setting for where it unpacks native libraries. */
    public static final String WORKDIR_PROPERTY = "io.netty.native.workdir";
    /** Where a root plugin has Netty unpack its library (unless the operator set {@value #WORKDIR_PROPERTY}). */
    public static final Path ROOT_WORKDIR = Path.of("/var/lib/nomad-driver-mirage/native");

    private NativeTransport() {
    }

    /**
     * Chooses Netty's work directory; must run before any Netty class is initialised. An operator's
     * {@value #WORKDIR_PROPERTY} (e.g. in MIRAGE_JAVA_OPTS) is kept as given; otherwise a root plugin
     * gets {@link #ROOT_WORKDIR}, created and checked by {@link #privateDirectory}, and a plugin not
     * run as root keeps Netty's default. Returns the directory chosen, empty for Netty's default.
     */
    public static Optional<Path> chooseWorkDir(int uid) throws ServeException {
        String given = System.getProperty(WORKDIR_PROPERTY);
        if (given != null && !given.isBlank()) {
            return Optional.of(Path.of(given));
        }
        if (uid != 0) {
            return Optional.empty();
        }
        try {
            privateDirectory(ROOT_WORKDIR, uid);
        } catch (IOException e) {
            throw new ServeException("cannot prepare " + ROOT_WORKDIR + ", where Netty unpacks its native epoll "
                    + "library: " + e.getMessage() + "; fix it, or set -D" + WORKDIR_PROPERTY + "=DIR in "
                    + "MIRAGE_JAVA_OPTS to a root-owned directory on a filesystem mounted without noexec", e);
        }
        System.setProperty(WORKDIR_PROPERTY, ROOT_WORKDIR.toString());
        return Optional.of(ROOT_WORKDIR);
    }

    /**
     * Creates {@code dir} (mode 0700) unless it exists, then checks that only {@code uid} and root
     * can change what is in it: it is a real directory (not a symbolic link) owned by {@code uid},
     * made 0700, and every directory above it is owned by root or {@code uid} and writable by no one
     * else (unless sticky, like /tmp).
     */
    static void privateDirectory(Path dir, int uid) throws IOException {
        Files.createDirectories(dir.getParent());
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
            // checked below
        }
        if (Files.isSymbolicLink(dir) || !Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(dir + " is not a directory (a symbolic link or another kind of file)");
        }
        int owner = (Integer) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        if (owner != uid) {
            throw new IOException(dir + " is owned by uid " + owner + ", not by the plugin's uid " + uid);
        }
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        for (Path above = dir.toRealPath().getParent(); above != null; above = above.getParent()) {
            int aboveOwner = (Integer) Files.getAttribute(above, "unix:uid", LinkOption.NOFOLLOW_LINKS);
            int mode = (Integer) Files.getAttribute(above, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            if (aboveOwner != 0 && aboveOwner != uid) {
                throw new IOException(above + " (above " + dir + ") is owned by uid " + aboveOwner
                        + "; only root or the plugin's uid " + uid + " may own it");
            }
            boolean sticky = (mode & 01000) != 0;
            if ((mode & 0022) != 0 && !sticky) {
                throw new IOException(above + " (above " + dir + ") is writable by other users (mode "
                        + Integer.toOctalString(mode & 07777) + ")");
            }
        }
    }

    /**
     * Fails, saying what to fix, when Netty's epoll transport did not load; called before anything
     * listens. The plugin never serves on another transport.
     */
    static void requireEpoll() throws ServeException {
        if (io.netty.channel.epoll.Epoll.isAvailable()) {
            return;
        }
        Throwable cause = io.netty.channel.epoll.Epoll.unavailabilityCause();
        String workdir = System.getProperty(WORKDIR_PROPERTY);
        String where = workdir != null ? workdir + " (" + WORKDIR_PROPERTY + ")"
                : System.getProperty("java.io.tmpdir") + " (java.io.tmpdir, Netty's default)";
        throw new ServeException("Netty's native epoll transport could not be loaded (" + describe(cause) + "). "
                + "The plugin serves only on a unix socket and never falls back to TCP, which any local user "
                + "could reach. Netty unpacks its library into " + where + " and loads it from there: that "
                + "directory must be on a filesystem mounted without noexec (set -D" + WORKDIR_PROPERTY
                + "=DIR in MIRAGE_JAVA_OPTS to choose another, root-owned one)", cause);
    }

    private static String describe(Throwable cause) {
        if (cause == null) {
            return "no cause given";
        }
        StringBuilder out = new StringBuilder();
        for (Throwable t = cause; t != null && out.length() < 600; t = t.getCause()) {
            if (!out.isEmpty()) {
                out.append(": ");
            }
            out.append(t.getClass().getSimpleName()).append(' ').append(t.getMessage());
            for (Throwable s : t.getSuppressed()) {
                out.append(" [").append(s.getMessage()).append(']');
            }
        }
        return out.toString();
    }
}
