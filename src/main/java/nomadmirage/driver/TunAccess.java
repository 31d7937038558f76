package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import nomadmirage.proc.TaskUser;

/**
 * The tender opens its tap through /dev/net/tun as the task's user; without
 * read-write access it would fail after start with only "Permission denied"
 * on its stderr, so the driver checks first and says what to fix.
 */
final class TunAccess {
    static final Path TUN = Path.of("/dev/net/tun");

    private TunAccess() {
    }

    static void check(TaskUser user) throws InvalidTaskException {
        if (user.uid() == 0) {
            return;
        }
        Set<PosixFilePermission> mode;
        int ownerUid;
        int ownerGid;
        try {
            mode = Files.getPosixFilePermissions(TUN);
            ownerUid = (Integer) Files.getAttribute(TUN, "unix:uid");
            ownerGid = (Integer) Files.getAttribute(TUN, "unix:gid");
        } catch (IOException | UnsupportedOperationException e) {
            throw new InvalidTaskException("network: " + TUN + " is not available on this node (" + e.getMessage()
                    + "); the tender needs it to open its tap");
        }
        boolean ok = ownerUid == user.uid()
                ? mode.contains(PosixFilePermission.OWNER_READ) && mode.contains(PosixFilePermission.OWNER_WRITE)
                : user.gid() == ownerGid || user.groups().contains(ownerGid)
                        ? mode.contains(PosixFilePermission.GROUP_READ) && mode.contains(PosixFilePermission.GROUP_WRITE)
                        : mode.contains(PosixFilePermission.OTHERS_READ) && mode.contains(PosixFilePermission.OTHERS_WRITE);
        if (!ok) {
            throw new InvalidTaskException("network: the tender runs as uid " + user.uid() + " (gid " + user.gid()
                    + "), which cannot open " + TUN + " (mode " + java.nio.file.attribute.PosixFilePermissions.toString(mode)
                    + ", owner " + ownerUid + ":" + ownerGid + ") to attach its tap; make it 0666 (the usual mode), "
                    + "or run the task as a user with access (task user, or the agent's default_user)");
        }
    }
}
