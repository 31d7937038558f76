package nomadmirage.cgroup;

import java.nio.file.Path;
import java.util.List;
import nomadmirage.proc.CgroupJoin;

/**
 * The cgroups one tender runs in and what they enforce. {@code joins} go to the supervisor (which
 * creates, limits and joins them before exec); {@code statsDirs} are where its usage is read.
 */
public record CgroupPlan(CgroupVersion version, List<CgroupJoin> joins, CgroupLimits limits, TaskCgroupDirs dirs) {
    public static final CgroupPlan NONE = new CgroupPlan(CgroupVersion.NONE, List.of(),
            new CgroupLimits(0, 0, 0, 0, 0, ""), TaskCgroupDirs.NONE);

    public CgroupPlan {
        joins = List.copyOf(joins);
    }

    public boolean isEmpty() {
        return joins.isEmpty();
    }

    /** The cgroups this task owns (created for it, removed with it). */
    public List<Path> ownedDirs() {
        return joins.stream().filter(CgroupJoin::owned).map(CgroupJoin::dir).toList();
    }
}
