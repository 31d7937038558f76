package nomadmirage.network;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.state.AtomicFiles;

/**
 * The leases on disk; callers hold the node lock. Two files: the snapshot ({@code leases.json}, the
 * whole pool as JSON, replaced by a rename) and the journal ({@code leases.journal}, one JSON line per
 * lease added or task released since the snapshot). A change appends one line, so a start costs the
 * same with 500 leases as with one; every {@value #COMPACT_AFTER} lines the snapshot is written whole
 * again and the journal dropped. Replaying a line twice changes nothing (an add replaces that task's
 * lease for the device, a release removes what is there), so a crash between writing the snapshot and
 * dropping the journal loses nothing; a line cut short by a crash is ignored and cut off by the next
 * append.
 *
 * <p>The last content read or written is kept with the snapshot's identity (inode, modification time,
 * size), an open descriptor of that snapshot, and how far the journal was read: each snapshot write
 * is a new inode, and while the descriptor is open its number cannot be given to another file. So a
 * read that finds the same snapshot reads only what was appended since, while a write by another
 * plugin process on the node is always seen.
 */
final class LeaseFile {
    static final int VERSION = 1;
    /** Journal lines after which the next change writes the snapshot whole and drops the journal. */
    static final int COMPACT_AFTER = 256;
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final Content EMPTY = new Content(VERSION, "", List.of());

    record Content(
            @JsonProperty("version") int version,
            @JsonProperty("subnet") String subnet,
            @JsonProperty("leases") List<Lease> leases) {
        Content {
            leases = leases == null ? List.of() : List.copyOf(leases);
        }
    }

    /** One journal line: a lease added (replacing that task's lease for the device), or tasks released. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Entry(@JsonProperty("add") Lease add, @JsonProperty("release") List<String> release) {
        static Entry adding(Lease lease) {
            return new Entry(lease, null);
        }

        static Entry releasing(Set<String> taskIds) {
            return new Entry(null, taskIds.stream().sorted().toList());
        }

        List<Lease> applyTo(List<Lease> leases) {
            List<Lease> out = new ArrayList<>(leases.size() + 1);
            for (Lease lease : leases) {
                boolean replaced = add != null && lease.taskId().equals(add.taskId()) && lease.device().equals(add.device());
                if (!replaced && (release == null || !release.contains(lease.taskId()))) {
                    out.add(lease);
                }
            }
            if (add != null) {
                out.add(add);
            }
            return out;
        }
    }

    private record Snapshot(Object fileKey, FileTime modified, long size, FileChannel held) {
        boolean matches(BasicFileAttributes attributes) {
            return attributes != null && fileKey != null && fileKey.equals(attributes.fileKey())
                    && modified.equals(attributes.lastModifiedTime()) && size == attributes.size();
        }
    }

    /** What was read: the snapshot it came from, the merged content, and the journal up to {@code journalEnd}. */
    private record Cached(Snapshot snapshot, Content content, Object journalKey, long journalEnd, int journalLines) {
    }

    /** Whole journal lines read from an offset: the entries, and the bytes they took. */
    private record JournalTail(List<Entry> entries, long consumed, Object fileKey) {
    }

    private final Path path;
    private final Path journal;
    private Cached cached;

    LeaseFile(Path path, Path journal) {
        this.path = path;
        this.journal = journal;
    }

    Path path() {
        return path;
    }

    /** The stored content (snapshot and journal), or empty content (no subnet yet) when there is none. */
    Content read() throws NetworkSetupException {
        try {
            if (cached != null && cached.snapshot().matches(attributes(path))) {
                BasicFileAttributes journalAttributes = attributes(journal);
                long size = journalAttributes == null ? 0 : journalAttributes.size();
                boolean sameJournal = cached.journalEnd() == 0
                        || (journalAttributes != null && journalAttributes.fileKey().equals(cached.journalKey()));
                if (sameJournal && size == cached.journalEnd()) {
                    return cached.content();
                }
                if (sameJournal && size > cached.journalEnd()) {
                    JournalTail tail = readJournal(cached.journalEnd());
                    Content merged = replay(cached.content(), tail.entries());
                    if (!tail.entries().isEmpty()) {
                        cached = new Cached(cached.snapshot(), merged, tail.fileKey(), cached.journalEnd() + tail.consumed(),
                                cached.journalLines() + tail.entries().size());
                    }
                    return merged;
                }
            }
            return readWhole();
        } catch (IOException e) {
            throw new NetworkSetupException("cannot read the lease file " + path + ": " + e.getMessage(), e);
        }
    }

    /** Adds LEASE (replacing that task's lease for its device) in a pool of SUBNET; returns the new content. */
    Content add(Lease lease, String subnet) throws NetworkSetupException {
        return change(Entry.adding(lease), subnet);
    }

    /** Releases every lease of these tasks in a pool of SUBNET; returns the new content. */
    Content release(Set<String> taskIds, String subnet) throws NetworkSetupException {
        return change(Entry.releasing(taskIds), subnet);
    }

    private Content change(Entry entry, String subnet) throws NetworkSetupException {
        Content current = read();
        Content next = new Content(VERSION, subnet, entry.applyTo(current.leases()));
        if (cached == null || !current.subnet().equals(subnet) || cached.journalLines() >= COMPACT_AFTER) {
            write(next);
            return next;
        }
        try {
            long end = append(entry, cached.journalEnd());
            cached = new Cached(cached.snapshot(), next, attributes(journal).fileKey(), end, cached.journalLines() + 1);
            return next;
        } catch (IOException e) {
            cached = null;
            throw new NetworkSetupException("cannot append to the lease journal " + journal + ": " + e.getMessage(), e);
        }
    }

    /** Writes the snapshot whole, then drops the journal it now contains. */
    void write(Content content) throws NetworkSetupException {
        try {
            byte[] bytes = JSON.writeValueAsBytes(content);
            forget();
            // Whole after any crash of a process; not fsync'd (2 ms a start here): a lease only matters while
            // its tap, pins and forwards exist, and a crash of the host ends those with everything else.
            AtomicFiles.replace(path, bytes);
            Files.deleteIfExists(journal);
            BasicFileAttributes written = attributes(path);
            if (written != null && written.size() == bytes.length) {
                remember(written, content, null, 0, 0);
            }
        } catch (IOException e) {
            throw new NetworkSetupException("cannot write the lease file " + path + ": " + e.getMessage(), e);
        }
    }

    private Content readWhole() throws IOException, NetworkSetupException {
        forget();
        BasicFileAttributes before = attributes(path);
        Content snapshot = EMPTY;
        byte[] bytes = null;
        if (before != null) {
            try {
                bytes = Files.readAllBytes(path);
            } catch (NoSuchFileException e) {
                before = null;
            }
        }
        if (bytes != null) {
            snapshot = parseSnapshot(bytes);
        }
        JournalTail tail = readJournal(0);
        Content merged = replay(snapshot, tail.entries());
        // Cached only when the bytes read are the whole snapshot the attributes describe (no write came between).
        BasicFileAttributes after = attributes(path);
        if (before != null && bytes.length == before.size() && after != null
                && new Snapshot(before.fileKey(), before.lastModifiedTime(), before.size(), null).matches(after)) {
            remember(after, merged, tail.fileKey(), tail.consumed(), tail.entries().size());
        }
        return merged;
    }

    private Content parseSnapshot(byte[] bytes) throws NetworkSetupException {
        Content content;
        try {
            content = JSON.readValue(bytes, Content.class);
        } catch (IOException e) {
            throw new NetworkSetupException("the lease file " + path + " is not readable JSON (move it and "
                    + journal.getFileName() + " aside to start with an empty pool): " + e.getMessage(), e);
        }
        if (content.version() != VERSION) {
            throw new NetworkSetupException("the lease file " + path + " has version " + content.version()
                    + "; this plugin reads version " + VERSION);
        }
        for (Lease lease : content.leases()) {
            requireWellFormed(lease, "the lease file " + path);
        }
        return content;
    }

    private static void requireWellFormed(Lease lease, String where) throws NetworkSetupException {
        if (lease == null || lease.taskId() == null || Ipv4Cidr.parseAddress(lease.ip()) == null) {
            throw new NetworkSetupException(where + " holds a malformed lease: " + lease);
        }
    }

    private static Content replay(Content content, List<Entry> entries) {
        List<Lease> leases = content.leases();
        for (Entry entry : entries) {
            leases = entry.applyTo(leases);
        }
        return entries.isEmpty() ? content : new Content(content.version(), content.subnet(), leases);
    }

    /** The whole lines of the journal from OFFSET on (a last line without its newline was cut short: not read). */
    private JournalTail readJournal(long offset) throws IOException, NetworkSetupException {
        byte[] bytes;
        Object key;
        try (FileChannel channel = FileChannel.open(journal, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            key = Files.readAttributes(journal, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            long size = channel.size();
            if (size - offset > Integer.MAX_VALUE - 16) {
                throw new NetworkSetupException("the lease journal " + journal + " is too large (" + size + " bytes)");
            }
            ByteBuffer buffer = ByteBuffer.allocate((int) Math.max(0, size - offset));
            while (buffer.hasRemaining() && channel.read(buffer, offset + buffer.position()) > 0) {
                // until the size read above
            }
            bytes = buffer.array();
        } catch (NoSuchFileException e) {
            return new JournalTail(List.of(), 0, null);
        }
        List<Entry> entries = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] != '\n') {
                continue;
            }
            entries.add(parseLine(bytes, start, i - start, offset + start));
            start = i + 1;
        }
        return new JournalTail(entries, start, key);
    }

    private Entry parseLine(byte[] bytes, int start, int length, long at) throws NetworkSetupException {
        String where = "the lease journal " + journal + " (at byte " + at + ")";
        Entry entry;
        try {
            entry = JSON.readValue(bytes, start, length, Entry.class);
        } catch (IOException e) {
            throw new NetworkSetupException(where + " is not readable JSON (move it and " + path.getFileName()
                    + " aside to start with an empty pool): " + e.getMessage(), e);
        }
        if ((entry.add() == null) == (entry.release() == null)) {
            throw new NetworkSetupException(where + " holds a line that neither adds nor releases exactly one thing");
        }
        if (entry.add() != null) {
            requireWellFormed(entry.add(), where);
        } else if (entry.release().stream().anyMatch(id -> id == null)) {
            throw new NetworkSetupException(where + " releases a task without an id");
        }
        return entry;
    }

    /** Appends ENTRY as one line at END (cutting off a line a crash left unfinished); returns the new end. */
    private long append(Entry entry, long end) throws IOException {
        byte[] line = (JSON.writeValueAsString(entry) + "\n").getBytes(StandardCharsets.UTF_8);
        try (FileChannel channel = FileChannel.open(journal, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                LinkOption.NOFOLLOW_LINKS), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
            if (channel.size() != end) {
                channel.truncate(end);
            }
            ByteBuffer buffer = ByteBuffer.wrap(line);
            while (buffer.hasRemaining()) {
                channel.write(buffer, end + buffer.position());
            }
        }
        return end + line.length;
    }

    private static BasicFileAttributes attributes(Path file) throws IOException {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** Holds the snapshot open (so its inode number stays its own) and caches the content read with it. */
    private void remember(BasicFileAttributes snapshot, Content content, Object journalKey, long journalEnd, int lines) {
        forget();
        try {
            FileChannel held = FileChannel.open(path, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
            Object key = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            if (!snapshot.fileKey().equals(key)) {
                held.close();
                return;
            }
            cached = new Cached(new Snapshot(snapshot.fileKey(), snapshot.lastModifiedTime(), snapshot.size(), held),
                    content, journalKey, journalEnd, lines);
        } catch (IOException e) {
            cached = null;
        }
    }

    private void forget() {
        if (cached == null) {
            return;
        }
        try {
            cached.snapshot().held().close();
        } catch (IOException ignored) {
            // a read-only descriptor: nothing to lose
        }
        cached = null;
    }
}
