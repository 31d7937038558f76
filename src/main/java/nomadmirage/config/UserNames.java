package nomadmirage.config;

import java.util.List;
import java.util.regex.Pattern;

/**
 * How users are written in the plugin and task configuration — a name, a uid, or uid:gid — and
 * which of them mean root. A tender runs as root (uid 0) or with root's group (gid 0) only when
 * the agent's {@code allowed_users} lists {@code "root"} or {@code "0"}.
 */
public final class UserNames {
    /** A user name as useradd accepts it, or a numeric uid, optionally with a gid. */
    private static final Pattern USER = Pattern.compile("[A-Za-z_][A-Za-z0-9_.-]{0,31}\\$?|\\d{1,10}(:\\d{1,10})?");
    /** An allowed_users entry: a name or a uid. */
    private static final Pattern ENTRY = Pattern.compile("[A-Za-z_][A-Za-z0-9_.-]{0,31}\\$?|\\d{1,10}");
    public static final String ROOT = "root";

    private UserNames() {
    }

    /** Whether {@code user} is written as a name, a uid or uid:gid (each id at most 2^31 - 1). */
    public static boolean isWellFormed(String user) {
        if (!USER.matcher(user).matches()) {
            return false;
        }
        if (isNumeric(user)) {
            for (String part : user.split(":")) {
                if (Long.parseLong(part) > Integer.MAX_VALUE) {
                    return false;
                }
            }
        }
        return true;
    }

    public static boolean isEntry(String entry) {
        return ENTRY.matcher(entry).matches() && (!isNumeric(entry) || Long.parseLong(entry) <= Integer.MAX_VALUE);
    }

    /** Whether {@code user} is written as numbers (uid or uid:gid) rather than a name. */
    public static boolean isNumeric(String user) {
        return !user.isEmpty() && Character.isDigit(user.charAt(0));
    }

    /** The uid a numeric user names; -1 for a name. */
    public static long uid(String user) {
        return isNumeric(user) ? Long.parseLong(user.split(":")[0]) : -1;
    }

    /** The gid a numeric user names (its uid when no gid is given); -1 for a name. */
    public static long gid(String user) {
        if (!isNumeric(user)) {
            return -1;
        }
        String[] parts = user.split(":");
        return Long.parseLong(parts[parts.length - 1]);
    }

    /** Whether {@code user} as written means root: the name root, uid 0, or gid 0. */
    public static boolean writtenAsRoot(String user) {
        return user.equals(ROOT) || uid(user) == 0 || gid(user) == 0;
    }

    /** Whether the operator allowed root explicitly: {@code allowed_users} lists "root" or "0". */
    public static boolean allowsRoot(List<String> allowedUsers) {
        return allowedUsers.stream().anyMatch(e -> e.equals(ROOT) || (isNumeric(e) && Long.parseLong(e) == 0));
    }
}
