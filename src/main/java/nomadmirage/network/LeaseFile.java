package nomadmirage.network;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.Path;
import java.util.List;
import nomadmirage.state.AtomicFiles;

/**
 * The lease file's JSON form; callers hold the node lock. The last content read or written is kept
 * with the file's identity (inode, modification time, size) and an open descriptor of that file:
 * each write replaces the file by a rename, and while the descriptor is open its inode number cannot
 * be given to another file, so a read that finds the same inode is answered without reading and
 * parsing the file again, while a write by another plugin process on the node is always seen.
 */
final class LeaseFile {
    static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    record Content(
            @JsonProperty("version") int version,
            @JsonProperty("subnet") String subnet,
            @JsonProperty("leases") List<Lease> leases) {
        Content {
            leases = leases == null ? List.of() : List.copyOf(leases);
        }
    }

    private record Cached(Object fileKey, FileTime modified, long size, Content content, FileChannel held) {
        boolean matches(BasicFileAttributes attributes) {
            return fileKey != null && fileKey.equals(attributes.fileKey()) && modified.equals(attributes.lastModifiedTime())
                    && size == attributes.size();
        }
    }

    private final Path path;
    private Cached cached;

    LeaseFile(Path path) {
        this.path = path;
    }

    Path path() {
        return path;
    }

    /** The stored content, or empty content (no subnet yet) when the file does not exist. */
    Content read() throws NetworkSetupException {
        byte[] bytes;
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (cached != null && cached.matches(attributes)) {
                return cached.content();
            }
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            remember(null, null);
            return new Content(VERSION, "", List.of());
        } catch (IOException e) {
            throw new NetworkSetupException("cannot read the lease file " + path + ": " + e.getMessage(), e);
        }
        Content content;
        try {
            content = JSON.readValue(bytes, Content.class);
        } catch (IOException e) {
            throw new NetworkSetupException("the lease file " + path + " is not readable JSON (move it aside to start"
                    + " with an empty pool): " + e.getMessage(), e);
        }
        if (content.version() != VERSION) {
            throw new NetworkSetupException("the lease file " + path + " has version " + content.version()
                    + "; this plugin reads version " + VERSION);
        }
        for (Lease lease : content.leases()) {
            if (lease.taskId() == null || nomadmirage.config.Ipv4Cidr.parseAddress(lease.ip()) == null) {
                throw new NetworkSetupException("the lease file " + path + " holds a malformed lease: " + lease);
            }
        }
        remember(attributes, bytes.length, content);
        return content;
    }

    /** Caches only when the bytes read are the whole file the attributes describe (no write came between). */
    private void remember(BasicFileAttributes before, long length, Content content) {
        try {
            BasicFileAttributes after = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            remember(length == before.size() && new Cached(before.fileKey(), before.lastModifiedTime(), before.size(),
                    content, null).matches(after) ? after : null, content);
        } catch (IOException e) {
            remember(null, content);
        }
    }

    /** Holds the file open (so its inode number stays its own) and caches its content; null forgets. */
    private void remember(BasicFileAttributes attributes, Content content) {
        if (cached != null) {
            try {
                cached.held().close();
            } catch (IOException ignored) {
                // a read-only descriptor: nothing to lose
            }
            cached = null;
        }
        if (attributes == null) {
            return;
        }
        try {
            FileChannel held = FileChannel.open(path, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
            Object key = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            if (!attributes.fileKey().equals(key)) {
                held.close();
                return;
            }
            cached = new Cached(attributes.fileKey(), attributes.lastModifiedTime(), attributes.size(), content, held);
        } catch (IOException e) {
            cached = null;
        }
    }

    void write(Content content) throws NetworkSetupException {
        try {
            byte[] bytes = JSON.writeValueAsBytes(content);
            remember(null, null);
            // Whole after any crash of a process; not fsync'd (2 ms a start here): a lease only matters while
            // its tap, pins and forwards exist, and a crash of the host ends those with everything else.
            AtomicFiles.replace(path, bytes);
            BasicFileAttributes written = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            remember(written.size() == bytes.length ? written : null, content);
        } catch (IOException e) {
            throw new NetworkSetupException("cannot write the lease file " + path + ": " + e.getMessage(), e);
        }
    }
}
