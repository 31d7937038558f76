package nomadmirage.proc;

import java.util.List;

/**
 * The numeric identity a tender runs as; {@code groups} are its supplementary groups (may be empty).
 * An {@code exclusive} uid belongs to one task alone (a per-task uid from the operator's range):
 * the supervisor then ends every process of that uid once the tender has ended.
 */
public record TaskUser(int uid, int gid, List<Integer> groups, boolean exclusive) {
    public TaskUser {
        if (uid < 0 || gid < 0) {
            throw new IllegalArgumentException("uid and gid must not be negative: " + uid + ":" + gid);
        }
        if (exclusive && uid == 0) {
            throw new IllegalArgumentException("root's uid is never a task's own");
        }
        groups = List.copyOf(groups);
        for (int g : groups) {
            if (g < 0) {
                throw new IllegalArgumentException("negative supplementary group " + g);
            }
        }
    }

    /** A uid that may be shared with other tasks and processes of the node. */
    public TaskUser(int uid, int gid, List<Integer> groups) {
        this(uid, gid, groups, false);
    }
}
