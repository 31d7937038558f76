package nomadmirage.proc;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * A cgroup the tender runs in. The supervisor's child creates it when {@code owned}, writes
 * {@code writes} into it in order, and joins it — as root, before it drops privileges and execs —
 * and the supervisor removes an owned one once the tender has ended. A cgroup that is not owned
 * (Nomad's cpuset for reserved cores) is only joined.
 */
public record CgroupJoin(Path dir, boolean owned, List<Write> writes) {
    /** One control file of the cgroup and the value written to it. */
    public record Write(String file, String value) {
        public Write {
            if (file.isEmpty() || file.contains("/") || file.startsWith(".") || value.isEmpty() || value.contains("\0")) {
                throw new IllegalArgumentException("not a cgroup control write: " + file + "=" + value);
            }
        }
    }

    public CgroupJoin {
        Objects.requireNonNull(dir, "dir");
        if (!dir.isAbsolute() || !dir.normalize().equals(dir)) {
            throw new IllegalArgumentException("a cgroup directory must be absolute and normal: " + dir);
        }
        writes = List.copyOf(writes);
        if (!owned && !writes.isEmpty()) {
            throw new IllegalArgumentException("a cgroup the task does not own is joined, never written: " + dir);
        }
    }
}
