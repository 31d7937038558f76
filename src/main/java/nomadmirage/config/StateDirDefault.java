package nomadmirage.config;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * Which directory the default {@code state_dir} means. Everything in it describes processes, taps and
 * rules that a reboot ends, so its home is {@code /run} (a tmpfs: no disk inode is allocated per
 * start). Versions before 0.2 kept it in {@code /var/lib/nomad-driver-mirage}; while that directory
 * still holds run directories, its tasks must stay recoverable and its tenders reconcilable, so it
 * stays in use until no task runs from it.
 */
public final class StateDirDefault {
    public static final Path LEGACY = Path.of("/var/lib/nomad-driver-mirage");

    private StateDirDefault() {
    }

    /** {@code configured} itself, unless it is the default and only the legacy directory holds tasks. */
    public static Path effective(Path configured) {
        return effective(configured, Path.of(PluginConfig.DEFAULT_STATE_DIR), LEGACY);
    }

    static Path effective(Path configured, Path defaultDir, Path legacy) {
        if (!configured.equals(defaultDir) || holdsRunDirs(defaultDir) || !holdsRunDirs(legacy)) {
            return configured;
        }
        return legacy;
    }

    private static boolean holdsRunDirs(Path stateDir) {
        Path tasks = stateDir.resolve("tasks");
        if (!Files.isDirectory(tasks, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(tasks)) {
            return entries.iterator().hasNext();
        } catch (IOException e) {
            return true; // unreadable: better to keep looking there than to orphan what it may hold
        }
    }
}
