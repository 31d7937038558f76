package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.cgroup.CgroupPlan;
import nomadmirage.cgroup.CgroupRequest;
import nomadmirage.cgroup.CgroupUsage;
import nomadmirage.config.PluginConfig;

/**
 * The lifecycle's port to the cgroup hierarchies: plan a tender's cgroups (preparing the driver's
 * parent), remove a task's, remove those of tasks no longer kept, read a task's usage. A task's
 * cgroups are named after its run directory.
 */
public interface TaskCgroups {
    CgroupLayout layout();

    /** Creates the driver's cgroup parent where missing (idempotent). */
    void prepare(PluginConfig plugin) throws IOException;

    /** Prepares the parent and plans the task's cgroups; {@link CgroupPlan#NONE} where there are none. */
    CgroupPlan plan(PluginConfig plugin, String task, CgroupRequest request) throws IOException;

    /** Removes a task's cgroups; missing ones count as removed. What could not be removed. */
    List<String> remove(PluginConfig plugin, String task);

    /** Removes the cgroups of every task not in {@code keep} (run-directory names). */
    List<Path> reconcile(PluginConfig plugin, Set<String> keep);

    /** The task's usage as its cgroups count it; empty without cgroups or once they are gone. */
    Optional<CgroupUsage> usage(PluginConfig plugin, String task);

    /** A node without cgroups (or a test harness): nothing is planned, removed or read. */
    TaskCgroups NONE = new TaskCgroups() {
        @Override
        public CgroupLayout layout() {
            return CgroupLayout.NONE;
        }

        @Override
        public void prepare(PluginConfig plugin) {
            // nothing to prepare
        }

        @Override
        public CgroupPlan plan(PluginConfig plugin, String task, CgroupRequest request) {
            return CgroupPlan.NONE;
        }

        @Override
        public List<String> remove(PluginConfig plugin, String task) {
            return List.of();
        }

        @Override
        public List<Path> reconcile(PluginConfig plugin, Set<String> keep) {
            return List.of();
        }

        @Override
        public Optional<CgroupUsage> usage(PluginConfig plugin, String task) {
            return Optional.empty();
        }
    };
}
