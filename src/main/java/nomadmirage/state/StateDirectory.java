package nomadmirage.state;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The one owner of the plugin's node-wide state directory layout ({@code state_dir}):
 * <pre>
 *   driver-state.key         the node-local key authenticating the driver state in task handles (0600)
 *   tasks/&lt;task&gt;/           one run directory per task (the supervisor's files, the task record)
 *   tasks/&lt;task&gt;/task.json  the plugin's record of the task
 *   network/leases.json      address leases (the snapshot)
 *   network/leases.journal   leases added and released since the snapshot
 *   network/lock             the node lock serialising lease and rule changes across plugin processes
 *   network/...              other network state (e.g. saved rules)
 * </pre>
 * Every other class asks this one for a path instead of spelling it.
 */
public record StateDirectory(Path root) {
    public static final String TASK_RECORD = "task.json";
    public static final String DRIVER_STATE_KEY = "driver-state.key";

    public StateDirectory {
        if (!root.isAbsolute()) {
            throw new IllegalArgumentException("state directory must be absolute: " + root);
        }
    }

    /** The key the driver state in task handles is authenticated with (see {@link NodeKey}). */
    public Path driverStateKey() {
        return root.resolve(DRIVER_STATE_KEY);
    }

    public Path tasksDir() {
        return root.resolve("tasks");
    }

    /** The run directory of the task whose file-name-safe id is {@code taskFileName}. */
    public Path runDir(String taskFileName) {
        if (taskFileName.isEmpty() || taskFileName.contains("/") || taskFileName.equals(".") || taskFileName.equals("..")) {
            throw new IllegalArgumentException("not a task file name: " + taskFileName);
        }
        return tasksDir().resolve(taskFileName);
    }

    public static Path taskRecord(Path runDir) {
        return runDir.resolve(TASK_RECORD);
    }

    /**
     * The per-task uid a task's tender runs as, written before the tender is launched (so a start cut
     * short still tells which uid it took); plain text, no fsync: after a crash of the machine no
     * tender of it runs any more.
     */
    public static Path ownUid(Path runDir) {
        return runDir.resolve("own-uid");
    }

    public Path networkDir() {
        return root.resolve("network");
    }

    public Path leaseFile() {
        return networkDir().resolve("leases.json");
    }

    /** The leases added and released since {@link #leaseFile()} was last written whole, one per line. */
    public Path leaseJournal() {
        return networkDir().resolve("leases.journal");
    }

    public Path nodeLock() {
        return networkDir().resolve("lock");
    }

    /** Whether any networked task ever ran with this state directory. */
    public boolean networkInUse() {
        return Files.isDirectory(networkDir(), LinkOption.NOFOLLOW_LINKS);
    }

    /** The run directories present now (real directories only; anything else in tasks/ is ignored). */
    public List<Path> runDirs() throws IOException {
        if (!Files.isDirectory(tasksDir(), LinkOption.NOFOLLOW_LINKS)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(tasksDir())) {
            return entries.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
        }
    }
}
