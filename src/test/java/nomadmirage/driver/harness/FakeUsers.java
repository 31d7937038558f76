package nomadmirage.driver.harness;

import java.util.Optional;
import nomadmirage.driver.HostFailureException;
import nomadmirage.driver.InvalidTaskException;
import nomadmirage.driver.UserDirectory;
import nomadmirage.proc.TaskUser;

/** The node's users: by default the plugin cannot switch users (as when not root); can resolve to a fixed user or fail. */
public final class FakeUsers implements UserDirectory {

    private final Journal journal;
    private volatile Optional<TaskUser> user = Optional.empty();
    private volatile Exception resolveFailure;

    public FakeUsers(Journal journal) {
        this.journal = journal;
    }

    /** Every name resolves to {@code user}; empty means no user switch. */
    public void resolveTo(Optional<TaskUser> user) {
        this.user = user;
    }

    /** Every later lookup fails: InvalidTaskException (no such user), HostFailureException, or a RuntimeException; null to stop. */
    public void failResolve(Exception failure) {
        this.resolveFailure = failure;
    }

    @Override
    public boolean canSwitchUsers() {
        return user.isPresent();
    }

    @Override
    public Optional<TaskUser> resolve(String name) throws InvalidTaskException, HostFailureException {
        journal.add("users.resolve " + name);
        Exception failure = resolveFailure;
        switch (failure) {
            case null -> { }
            case InvalidTaskException e -> throw e;
            case HostFailureException e -> throw e;
            case RuntimeException e -> throw e;
            default -> throw new IllegalStateException("unsupported failure " + failure);
        }
        return user;
    }

}
