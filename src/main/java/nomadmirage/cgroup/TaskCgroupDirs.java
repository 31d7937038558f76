package nomadmirage.cgroup;

import java.nio.file.Path;
import java.util.Optional;

/** Where one task's usage is read: memory, CPU time and CPU throttling (each may be absent). */
public record TaskCgroupDirs(CgroupVersion version, Optional<Path> memory, Optional<Path> cpuacct, Optional<Path> cpu) {
    public static final TaskCgroupDirs NONE = new TaskCgroupDirs(CgroupVersion.NONE, Optional.empty(), Optional.empty(),
            Optional.empty());
}
