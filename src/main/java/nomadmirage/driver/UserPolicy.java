package nomadmirage.driver;

import java.util.List;
import java.util.Optional;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.PluginConfigKeys;
import nomadmirage.config.UserNames;
import nomadmirage.proc.TaskUser;

/**
 * Who a tender may run as. The plugin runs as root, so a job's {@code user} (or the agent's
 * {@code default_user}) must not be root — uid 0 by name, number or lookup, or a user with root's
 * group — unless the agent's {@code allowed_users} lists "root" or "0"; and when
 * {@code allowed_users} is set, the user must be one of its names or uids. The per-task uids
 * ({@code dynamic_user_min}..{@code dynamic_user_max}) are never a job's to name: a task that names
 * none (and no {@code default_user} is set) gets one of its own.
 */
final class UserPolicy {
    private UserPolicy() {
    }

    /** Whether the task runs as a uid of its own: it names no user and the agent sets no default_user. */
    static boolean wantsOwnUid(String taskUser, PluginConfig plugin) {
        return (taskUser == null || taskUser.isEmpty()) && plugin.defaultUser().isEmpty();
    }

    /** Checks the task's user (else default_user), looks it up and checks what it resolved to. */
    static Optional<TaskUser> resolve(UserDirectory users, String taskUser, PluginConfig plugin)
            throws InvalidTaskException, HostFailureException {
        boolean fromTask = taskUser != null && !taskUser.isEmpty();
        String field = fromTask ? "user" : PluginConfigKeys.DEFAULT_USER;
        String user = fromTask ? taskUser : plugin.defaultUser();
        List<String> allowed = plugin.limits().allowedUsers();
        if (user.isEmpty()) {
            return Optional.empty(); // no user named and none by default: the plugin's own (it cannot switch)
        }
        if (!UserNames.isWellFormed(user)) {
            throw new InvalidTaskException(field + ": \"" + user + "\" is not a user name, a numeric uid or uid:gid");
        }
        boolean rootUid = user.equals(UserNames.ROOT) || UserNames.uid(user) == 0;
        boolean rootGroup = UserNames.gid(user) == 0;
        refuseRoot(field, user, rootUid, rootGroup, allowed); // before the lookup: a name written as root
        Optional<TaskUser> resolved = users.resolve(user);
        long uid = UserNames.uid(user);
        refuseTaskUid(field, user, UserNames.uid(user), UserNames.gid(user), plugin);
        if (resolved.isPresent()) {
            TaskUser ids = resolved.get();
            uid = ids.uid();
            refuseRoot(field, user, rootUid || ids.uid() == 0,
                    rootGroup || ids.gid() == 0 || ids.groups().contains(0), allowed);
            refuseTaskUid(field, user, ids.uid(), ids.gid(), plugin);
        }
        if (!allowed.isEmpty() && !listed(user, uid, allowed)) {
            throw new InvalidTaskException(field + ": \"" + user + "\" is not one of the users this node runs tenders "
                    + "as: the agent's " + PluginConfigKeys.ALLOWED_USERS + " is "
                    + allowed.stream().map(a -> "\"" + a + "\"").toList());
        }
        return resolved;
    }

    private static void refuseTaskUid(String field, String user, long uid, long gid, PluginConfig plugin)
            throws InvalidTaskException {
        var range = plugin.limits().taskUids();
        if (range.contains(uid) || range.contains(gid)) {
            throw new InvalidTaskException(field + ": \"" + user + "\" has uid " + uid + " and gid " + gid
                    + "; this node gives the ids " + range + " (the agent's " + PluginConfigKeys.DYNAMIC_USER_MIN
                    + ".." + PluginConfigKeys.DYNAMIC_USER_MAX + ") to tasks one each, so no job may name one; "
                    + "leave user out to get an id of the task's own");
        }
    }

    private static void refuseRoot(String field, String user, boolean rootUid, boolean rootGroup, List<String> allowed)
            throws InvalidTaskException {
        if ((rootUid || rootGroup) && !UserNames.allowsRoot(allowed)) {
            throw new InvalidTaskException(field + ": \"" + user + "\" would run the tender "
                    + (rootUid ? "as root (uid 0)" : "with root's group (gid 0)") + ", which this node refuses unless "
                    + "the agent's " + PluginConfigKeys.ALLOWED_USERS + " lists \"root\" or \"0\"; run the task as "
                    + "an unprivileged user");
        }
    }

    /** An entry names the user as written, or its uid (as written or as looked up). */
    private static boolean listed(String user, long uid, List<String> allowed) {
        for (String entry : allowed) {
            if (entry.equals(user)) {
                return true;
            }
            if (UserNames.isNumeric(entry) && uid >= 0 && Long.parseLong(entry) == uid) {
                return true;
            }
        }
        return false;
    }
}
