package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import nomadmirage.config.UidRange;
import nomadmirage.state.StateDirectory;

/**
 * Hands out the per-task uids: each live task holds one that no other task holds. What is held
 * is learnt once from the run directories in the state directory (tasks from before a plugin restart,
 * recovered or not yet), then kept in memory; {@link #resync} relearns it while no start runs.
 * Uids are handed out round robin, so a uid freed now is the last to be given again. A uid that
 * {@code /etc/passwd} names is never handed out: the supervisor ends every process of a task's uid,
 * which must not hit a real user's when the range was set over one.
 */
final class TaskUids {
    private static final Path PASSWD = Path.of("/etc/passwd");

    private final Path passwd;
    private final Set<Integer> held = new HashSet<>();
    /** Held past their run directory: a destroyed task's taps, which the uid owns, are still being removed. */
    private final Set<Integer> lingering = new HashSet<>();
    private final Set<Integer> named = new HashSet<>();
    private boolean loaded;
    private long cursor = -1;

    /** A uid of {@code range} no live task holds; the caller releases it if the start fails. */
    TaskUids() {
        this(PASSWD);
    }

    TaskUids(Path passwd) {
        this.passwd = passwd;
    }

    synchronized int allocate(StateDirectory state, UidRange range) throws HostFailureException {
        if (!loaded) {
            held.addAll(recorded(state));
            named.addAll(namedUids(passwd));
            loaded = true;
        }
        for (int i = 0; i < range.size(); i++) {
            cursor = cursor < range.min() || cursor >= range.max() ? range.min() : cursor + 1;
            int uid = (int) cursor;
            if (!named.contains(uid) && held.add(uid)) {
                return uid;
            }
        }
        throw new HostFailureException("every per-task uid of this node (" + range + ", " + range.size()
                + ") is held by a task; raise the agent's dynamic_user_max or run fewer tasks here");
    }

    synchronized void release(int uid) {
        held.remove(uid);
        lingering.remove(uid);
    }

    /** Keeps the uid held until {@link #release}, even across a {@link #resync} (its run directory goes first). */
    synchronized void holdUntilReleased(int uid) {
        lingering.add(uid);
    }

    /** Forgets uids whose task record is gone (orphans removed); call only while no start runs. */
    synchronized void resync(StateDirectory state) {
        if (loaded) {
            held.clear();
            held.addAll(recorded(state));
            held.addAll(lingering);
        }
    }

    synchronized boolean isHeld(int uid) {
        return held.contains(uid);
    }

    private static Set<Integer> recorded(StateDirectory state) {
        Set<Integer> uids = new HashSet<>();
        try {
            for (Path dir : state.runDirs()) {
                ownUid(dir).ifPresent(uids::add);
            }
        } catch (IOException e) {
            // No readable tasks directory holds no task.
        }
        return uids;
    }

    /** The uids of the users in a passwd file (none when it cannot be read). */
    private static Set<Integer> namedUids(Path passwd) {
        Set<Integer> uids = new HashSet<>();
        try {
            for (String line : Files.readAllLines(passwd)) {
                String[] fields = line.split(":", -1);
                if (fields.length > 2 && fields[2].matches("\\d{1,10}")) {
                    long uid = Long.parseLong(fields[2]);
                    if (uid <= Integer.MAX_VALUE) {
                        uids.add((int) uid);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // No readable passwd file names no user.
        }
        return uids;
    }

    /** Records the uid in the task's run directory before its tender is launched. */
    static void record(Path runDir, int uid) throws HostFailureException {
        try {
            Files.writeString(StateDirectory.ownUid(runDir), Integer.toString(uid), StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            throw new HostFailureException("cannot record the task's uid in " + runDir + ": " + e.getMessage(), e);
        }
    }

    static Optional<Integer> ownUid(Path runDir) {
        Path file = StateDirectory.ownUid(runDir);
        try {
            if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || Files.size(file) > 16) {
                return Optional.empty();
            }
            return Optional.of(Integer.parseInt(Files.readString(file).strip()));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
