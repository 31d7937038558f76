package nomadmirage.driver;

import java.util.Optional;
import nomadmirage.proc.TaskUser;

/** The lifecycle's port to the node's users: who a tender runs as. */
public interface UserDirectory {
    /** Whether the plugin can run tenders as other users (it is root). */
    boolean canSwitchUsers();

    /** Empty when the plugin cannot switch users (not root); the tender then runs as the plugin's user. */
    Optional<TaskUser> resolve(String user) throws InvalidTaskException, HostFailureException;
}
