package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import nomadmirage.config.PluginConfig;
import nomadmirage.log.Logger;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.ReconcileReport;
import nomadmirage.proc.Supervisor;
import nomadmirage.state.AtomicFiles;
import nomadmirage.state.StateDirectory;

/**
 * Finds and removes what no task Nomad holds owns any more. A run directory is kept when its task
 * is tracked; otherwise its tender is stopped (an orphan: Nomad forgot the task, or the plugin died
 * between launch and answering), and the directory removed — except an ended tender's, which is
 * kept until {@code endedMinAge} has passed so that Nomad can still recover it for its exit status.
 * Then every network object of no kept task is removed.
 */
final class OrphanReconciler {
    private final PluginConfig plugin;
    private final TaskNetworks networks;
    private final Supervisor supervisor;
    private final Logger log;

    OrphanReconciler(PluginConfig plugin, TaskNetworks networks, Supervisor supervisor, Logger log) {
        this.plugin = plugin;
        this.networks = networks;
        this.supervisor = supervisor;
        this.log = log;
    }

    Optional<ReconcileReport> reconcile(Set<String> tracked, Duration endedMinAge) {
        Set<String> keep = new HashSet<>(tracked);
        StateDirectory state = new StateDirectory(plugin.stateDir());
        try {
            for (Path dir : state.runDirs()) {
                reconcileRunDir(dir, tracked, endedMinAge).ifPresent(keep::add);
            }
        } catch (IOException e) {
            log.warn("cannot list run directories", "dir", state.tasksDir(), "error", e);
        }
        try {
            Optional<ReconcileReport> report = networks.reconcile(plugin, keep);
            report.filter(r -> !r.removedNothing())
                    .ifPresent(r -> log.info("removed orphaned network objects", "report", r.toString()));
            return report;
        } catch (NetworkSetupException e) {
            log.error("network reconcile failed; the next reconcile retries", "error", e);
            return Optional.empty();
        }
    }

    /** The task id to keep the network objects of, when the directory stays. */
    private Optional<String> reconcileRunDir(Path dir, Set<String> tracked, Duration endedMinAge) {
        Optional<String> taskId = taskId(dir);
        if (taskId.isPresent() && tracked.contains(taskId.get())) {
            return taskId;
        }
        Supervisor.RunDirState state = supervisor.inspect(dir);
        switch (state) {
            case RUNNING, STARTING -> {
                try {
                    TaskManager.killAndWait(supervisor.attach(dir));
                    log.warn("stopped an orphaned tender: no task Nomad holds owns it", "dir", dir,
                            "task_id", taskId.orElse("(no record)"));
                } catch (Exception e) {
                    log.error("cannot stop an orphaned tender; the next reconcile retries", "dir", dir, "error", e);
                    return taskId;
                }
            }
            case ENDED -> {
                boolean aged = supervisor.endedAt(dir).map(at -> at.plus(endedMinAge).isBefore(Instant.now())).orElse(true);
                if (!aged) {
                    return taskId;
                }
            }
            case NOT_STARTED -> {
                // a start that never launched its tender (the plugin died first)
            }
        }
        try {
            AtomicFiles.deleteTree(dir);
            log.info("removed an orphaned run directory", "dir", dir, "was", state.name().toLowerCase(java.util.Locale.ROOT));
        } catch (IOException e) {
            log.warn("cannot remove an orphaned run directory; the next reconcile retries", "dir", dir, "error", e);
        }
        return Optional.empty();
    }

    private static Optional<String> taskId(Path dir) {
        try {
            return TaskRecord.read(dir).map(r -> r.state().taskId());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
