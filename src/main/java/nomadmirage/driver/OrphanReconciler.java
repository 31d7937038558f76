package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import nomadmirage.config.PluginConfig;
import nomadmirage.log.Logger;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.ReconcileReport;
import nomadmirage.state.AtomicFiles;
import nomadmirage.proc.Supervisor;

/**
 * Finds the network objects no task owns any more: a task is kept when the
 * plugin tracks it or its run directory shows a tender that is still alive.
 */
final class OrphanReconciler {
    private final PluginConfig plugin;
    private final NetworkService networks;
    private final Supervisor supervisor;
    private final Logger log;

    OrphanReconciler(PluginConfig plugin, NetworkService networks, Supervisor supervisor, Logger log) {
        this.plugin = plugin;
        this.networks = networks;
        this.supervisor = supervisor;
        this.log = log;
    }

    /**
     * Once recovery has settled: releases the network objects of tasks that are
     * neither tracked nor running (e.g. started before a plugin crash, never
     * recovered, tender gone). Never touches a live task's objects.
     */
    Optional<ReconcileReport> reconcile(Set<String> trackedTaskIds) {
        Set<String> live = scanRunDirs(trackedTaskIds);
        if (!NetworkService.inUse(plugin)) {
            return Optional.empty();
        }
        Set<String> keep = new HashSet<>(trackedTaskIds);
        keep.addAll(live);
        try {
            ReconcileReport report = networks.forConfig(plugin).reconcile(keep);
            if (!report.removedNothing()) {
                log.info("removed orphaned network objects", "report", report.toString());
            }
            return Optional.of(report);
        } catch (NetworkSetupException e) {
            log.error("network reconcile failed", "error", e);
            return Optional.empty();
        }
    }

    /**
     * Task ids whose run directory shows a live tender. Run directories of starts
     * that never launched a tender (the plugin died first) are removed; those of
     * tenders that ended are kept, since Nomad may still recover them for the exit status.
     */
    private Set<String> scanRunDirs(Set<String> tracked) {
        Set<String> live = new HashSet<>();
        Path root = plugin.stateDir().resolve("tasks");
        if (!Files.isDirectory(root)) {
            return live;
        }
        try (var dirs = Files.list(root)) {
            for (Path dir : dirs.toList()) {
                Supervisor.RunDirState state = supervisor.inspect(dir);
                Optional<String> taskId = taskId(dir);
                if (state == Supervisor.RunDirState.RUNNING || state == Supervisor.RunDirState.STARTING) {
                    taskId.ifPresent(live::add);
                } else if (state == Supervisor.RunDirState.NOT_STARTED
                        && taskId.map(id -> !tracked.contains(id)).orElse(true)) {
                    try {
                        AtomicFiles.deleteTree(dir);
                        log.info("removed the run directory of a start that never launched its tender", "dir", dir);
                    } catch (IOException e) {
                        log.warn("cannot remove an abandoned run directory", "dir", dir, "error", e);
                    }
                }
            }
        } catch (IOException e) {
            log.warn("cannot list run directories", "dir", root, "error", e);
        }
        return live;
    }

    private static Optional<String> taskId(Path dir) {
        try {
            return Optional.of(DriverState.decode(Files.readAllBytes(dir.resolve(TaskManager.TASK_RECORD))).taskId());
        } catch (IOException | InvalidTaskException e) {
            return Optional.empty();
        }
    }
}
