package nomadmirage.driver;

import java.util.Optional;
import nomadmirage.proc.TaskUser;

/** The lifecycle's port to the node's users: who a tender runs as, and what that user may open. */
public interface UserDirectory {
    /** Empty when the plugin cannot switch users (not root); the tender then runs as the plugin's user. */
    Optional<TaskUser> resolve(String user) throws InvalidTaskException, HostFailureException;

    /** The same user with the group of /dev/kvm added. */
    TaskUser withKvmGroup(TaskUser user);

    /** Fails, naming what to fix, when {@code user} cannot open /dev/net/tun to attach its tap. */
    void checkTunAccess(TaskUser user) throws InvalidTaskException;
}
