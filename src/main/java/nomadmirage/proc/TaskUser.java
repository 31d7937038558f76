package nomadmirage.proc;

import java.util.List;

/** The numeric identity a tender runs as; {@code groups} are its supplementary groups (may be empty). */
public record TaskUser(int uid, int gid, List<Integer> groups) {
    public TaskUser {
        if (uid < 0 || gid < 0) {
            throw new IllegalArgumentException("uid and gid must not be negative: " + uid + ":" + gid);
        }
        groups = List.copyOf(groups);
        for (int g : groups) {
            if (g < 0) {
                throw new IllegalArgumentException("negative supplementary group " + g);
            }
        }
    }
}
