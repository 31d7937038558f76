package nomadmirage.driver.harness;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.cgroup.CgroupPlan;
import nomadmirage.cgroup.CgroupPlanner;
import nomadmirage.cgroup.CgroupRequest;
import nomadmirage.cgroup.CgroupUsage;
import nomadmirage.config.PluginConfig;
import nomadmirage.driver.TaskCgroups;

/**
 * Cgroups in memory on a v1 layout (cpu,cpuacct / cpuset / memory / pids under /fake/cgroup): the real
 * planner plans, and a planned task's cgroups count as present (its supervisor would create them)
 * until they are removed or reconciled away.
 */
public final class FakeCgroups implements TaskCgroups {
    public static final CgroupLayout LAYOUT = CgroupLayout.parse(List.of(
            "32 31 0:29 / /fake/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
            "34 31 0:31 / /fake/cgroup/cpuset rw - cgroup cgroup rw,cpuset",
            "35 31 0:32 / /fake/cgroup/memory rw - cgroup cgroup rw,memory",
            "39 31 0:36 / /fake/cgroup/pids rw - cgroup cgroup rw,pids"), Path.of("/sys/fs/cgroup"));

    private final Journal journal;
    private final Set<String> present = new TreeSet<>();
    private final List<CgroupRequest> requests = new ArrayList<>();

    public FakeCgroups(Journal journal) {
        this.journal = journal;
    }

    /** Task (run-directory) names whose cgroups exist. */
    public synchronized Set<String> present() {
        return Set.copyOf(present);
    }

    /** Every request planned, in order. */
    public synchronized List<CgroupRequest> requests() {
        return List.copyOf(requests);
    }

    @Override
    public CgroupLayout layout() {
        return LAYOUT;
    }

    @Override
    public void prepare(PluginConfig plugin) {
        // nothing on a fake host
    }

    @Override
    public synchronized CgroupPlan plan(PluginConfig plugin, String task, CgroupRequest request) {
        journal.add("cgroups.plan " + task);
        CgroupPlan plan = CgroupPlanner.plan(LAYOUT, plugin.cgroupParent(), task, request);
        requests.add(request);
        present.add(task);
        return plan;
    }

    @Override
    public synchronized List<String> remove(PluginConfig plugin, String task) {
        journal.add("cgroups.remove " + task);
        present.remove(task);
        return List.of();
    }

    @Override
    public synchronized List<Path> reconcile(PluginConfig plugin, Set<String> keep) {
        journal.add("cgroups.reconcile keep=" + new TreeSet<>(keep));
        List<Path> removed = new ArrayList<>();
        for (String task : List.copyOf(present)) {
            if (!keep.contains(task)) {
                present.remove(task);
                removed.add(Path.of("/fake/cgroup/memory", plugin.cgroupParent(), task));
            }
        }
        return removed;
    }

    @Override
    public Optional<CgroupUsage> usage(PluginConfig plugin, String task) {
        return Optional.empty();
    }
}
