package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.cgroup.CgroupPlan;
import nomadmirage.cgroup.CgroupPlanner;
import nomadmirage.cgroup.CgroupRequest;
import nomadmirage.cgroup.CgroupTree;
import nomadmirage.cgroup.CgroupUsage;
import nomadmirage.config.PluginConfig;

/** {@link TaskCgroups} on this node's hierarchies, as found once in /proc/self/mountinfo. */
public final class HostCgroups implements TaskCgroups {
    private final CgroupLayout layout;
    /** Parents prepared by this process: preparing is idempotent, but costs writes on every start. */
    private final Set<String> prepared = ConcurrentHashMap.newKeySet();

    public HostCgroups(CgroupLayout layout) {
        this.layout = layout;
    }

    @Override
    public CgroupLayout layout() {
        return layout;
    }

    @Override
    public void prepare(PluginConfig plugin) throws IOException {
        CgroupTree tree = new CgroupTree(layout, plugin.cgroupParent());
        // Prepared once per parent; again only when someone removed it meanwhile.
        if (!prepared.contains(plugin.cgroupParent())
                || !tree.parentDirs().stream().allMatch(dir -> Files.isDirectory(dir))) {
            tree.prepare();
            prepared.add(plugin.cgroupParent());
        }
    }

    @Override
    public CgroupPlan plan(PluginConfig plugin, String task, CgroupRequest request) throws IOException {
        CgroupPlan plan = CgroupPlanner.plan(layout, plugin.cgroupParent(), task, request);
        if (!plan.isEmpty()) {
            prepare(plugin);
        }
        return plan;
    }

    @Override
    public List<String> remove(PluginConfig plugin, String task) {
        return new CgroupTree(layout, plugin.cgroupParent()).removeTask(task);
    }

    @Override
    public List<Path> reconcile(PluginConfig plugin, Set<String> keep) {
        return new CgroupTree(layout, plugin.cgroupParent()).removeAllBut(keep);
    }

    @Override
    public Optional<CgroupUsage> usage(PluginConfig plugin, String task) {
        return CgroupUsage.read(CgroupPlanner.statsDirs(layout, plugin.cgroupParent(), task));
    }
}
