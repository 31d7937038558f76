package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;
import nomadmirage.proc.TaskUser;

/**
 * Finds the uid, gid and groups a tender runs as: the task's user, else the
 * agent's default_user. Only a root plugin can switch users; otherwise the
 * tender runs as the plugin's own user.
 */
public final class TaskUserResolver implements UserDirectory {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private final CommandRunner commands;

    public TaskUserResolver(CommandRunner commands) {
        this.commands = commands;
    }

    @Override
    public boolean canSwitchUsers() {
        return pluginIsRoot();
    }

    /** Empty when the plugin is not root (no switch possible). */
    @Override
    public Optional<TaskUser> resolve(String user) throws InvalidTaskException, HostFailureException {
        if (!pluginIsRoot()) {
            return Optional.empty();
        }
        int uid;
        int gid;
        List<Integer> groups = new ArrayList<>();
        if (user.matches("\\d+(:\\d+)?")) {
            String[] parts = user.split(":");
            uid = Integer.parseInt(parts[0]);
            gid = parts.length > 1 ? Integer.parseInt(parts[1]) : uid;
        } else {
            uid = number(id(user, "-u"), user);
            gid = number(id(user, "-g"), user);
            for (String g : id(user, "-G").trim().split("\\s+")) {
                if (!g.isEmpty()) {
                    groups.add(number(g, user));
                }
            }
        }
        return Optional.of(new TaskUser(uid, gid, groups));
    }

    private String id(String user, String flag) throws InvalidTaskException, HostFailureException {
        CommandResult result;
        try {
            result = commands.run(List.of("id", flag, "--", user), TIMEOUT);
        } catch (IOException e) {
            throw new HostFailureException("cannot run `id` to look up user " + user, e);
        }
        if (!result.succeeded()) {
            throw new InvalidTaskException("user: \"" + user + "\" does not exist on this node (" + result.stderr().strip()
                    + "); set the task's user, or the agent's default_user, to an existing user");
        }
        return result.stdout().strip();
    }

    private static int number(String text, String user) throws InvalidTaskException {
        try {
            return Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new InvalidTaskException("user: cannot read the ids of \"" + user + "\": " + text);
        }
    }

    /** The plugin's uid never changes: /proc/self/status is read once, not on every start. */
    static boolean pluginIsRoot() {
        return RootCheck.IS_ROOT;
    }

    private static final class RootCheck {
        static final boolean IS_ROOT = readIsRoot();
    }

    private static boolean readIsRoot() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[2].equals("0");
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }
}
