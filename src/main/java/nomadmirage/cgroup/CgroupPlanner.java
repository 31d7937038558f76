package nomadmirage.cgroup;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import nomadmirage.proc.CgroupJoin;

/**
 * Computes a tender's cgroups from its task's resources, the way Nomad's executor limits an exec
 * task: CPU shares (v1) or the weight converted from them (v2), a hard memory limit of max(memory,
 * memory_max) — here plus the tender's own overhead — and a soft one of memory when memory_max is
 * higher, the cores Nomad reserved, and (unlike the executor) a pids limit. Pure: it reads nothing.
 *
 * <p>Each tender's cgroup is {@code <hierarchy>/<parent>/<task>}. On v1 a task with reserved cores
 * joins the cpuset cgroup Nomad made for it ({@code cpuset_cgroup}, which Nomad keeps in step as
 * other tasks reserve cores); without one the reserved cores go into a cpuset cgroup of its own.
 * On v2 the cores are written into the task's own cgroup.
 */
public final class CgroupPlanner {
    private static final long MIB = 1024L * 1024;
    /** Nomad refuses fewer; the kernel's v1 maximum. */
    static final long MIN_SHARES = 2;
    static final long MAX_SHARES = 262_144;

    private CgroupPlanner() {
    }

    /** @param parent relative, e.g. "nomad-mirage"; @param task a file name unique to the task */
    public static CgroupPlan plan(CgroupLayout layout, String parent, String task, CgroupRequest request) {
        if (task.isEmpty() || task.contains("/") || task.startsWith(".")) {
            throw new IllegalArgumentException("not a cgroup name: " + task);
        }
        CgroupLimits limits = limits(request);
        return switch (layout.version()) {
            case NONE -> CgroupPlan.NONE;
            case V1 -> planV1(layout, parent, task, request, limits);
            case V2 -> planV2(layout, parent, task, limits);
        };
    }

    static CgroupLimits limits(CgroupRequest request) {
        if (request.memoryMb() <= 0) {
            throw new IllegalArgumentException("memory: " + request.memoryMb() + " MB; a tender needs guest memory");
        }
        if (!request.cpusetCpus().isEmpty() && !request.cpusetCpus().matches("\\d+(-\\d+)?(,\\d+(-\\d+)?)*")) {
            throw new IllegalArgumentException("cpuset_cpus: \"" + request.cpusetCpus()
                    + "\" is not a list of cores such as \"2,3\"");
        }
        TenderOverhead overhead = TenderOverhead.of(request.kind());
        long guest = request.memoryMb() * MIB;
        long hard = Math.max(request.memoryMb(), request.memoryMaxMb()) * MIB + overhead.memoryBytes();
        long soft = request.memoryMaxMb() > request.memoryMb() ? guest + overhead.memoryBytes() : 0;
        long shares = request.cpuShares() <= 0 ? 0 : Math.clamp(request.cpuShares(), MIN_SHARES, MAX_SHARES);
        return new CgroupLimits(hard, soft, shares, shares == 0 ? 0 : weight(shares), overhead.pidsMax(),
                request.cpusetCpus());
    }

    /** runc's ConvertCPUSharesToCgroupV2Value, which Nomad's executor uses: 2..262144 onto 1..10000. */
    static long weight(long shares) {
        return 1 + ((shares - 2) * 9999) / 262_142;
    }

    private static CgroupPlan planV1(CgroupLayout layout, String parent, String task, CgroupRequest request,
            CgroupLimits limits) {
        // Hierarchies mounted together (cpu,cpuacct) share one directory: one join, writes merged.
        Map<Path, List<CgroupJoin.Write>> owned = new LinkedHashMap<>();
        if (layout.has(Controller.CPU)) {
            Path dir = dir(layout.mount(Controller.CPU), parent, task);
            List<CgroupJoin.Write> writes = owned.computeIfAbsent(dir, d -> new ArrayList<>());
            if (limits.cpuShares() > 0) {
                writes.add(new CgroupJoin.Write("cpu.shares", Long.toString(limits.cpuShares())));
            }
        }
        if (layout.has(Controller.CPUACCT)) {
            Path dir = dir(layout.mount(Controller.CPUACCT), parent, task);
            owned.computeIfAbsent(dir, d -> new ArrayList<>());
        }
        if (layout.has(Controller.MEMORY)) {
            Path dir = dir(layout.mount(Controller.MEMORY), parent, task);
            List<CgroupJoin.Write> writes = owned.computeIfAbsent(dir, d -> new ArrayList<>());
            writes.add(new CgroupJoin.Write("memory.limit_in_bytes", Long.toString(limits.memoryLimitBytes())));
            if (limits.memorySoftBytes() > 0) {
                writes.add(new CgroupJoin.Write("memory.soft_limit_in_bytes", Long.toString(limits.memorySoftBytes())));
            }
        }
        if (layout.has(Controller.PIDS)) {
            Path dir = dir(layout.mount(Controller.PIDS), parent, task);
            owned.computeIfAbsent(dir, d -> new ArrayList<>())
                    .add(new CgroupJoin.Write("pids.max", Long.toString(limits.pidsMax())));
        }
        List<CgroupJoin> joins = new ArrayList<>();
        owned.forEach((dir, writes) -> joins.add(new CgroupJoin(dir, true, writes)));
        if (layout.has(Controller.CPUSET)) {
            Path mount = layout.mount(Controller.CPUSET);
            if (!request.cpusetCgroup().isEmpty()) {
                Path nomads = Path.of(request.cpusetCgroup());
                if (!nomads.isAbsolute() || !nomads.normalize().equals(nomads) || !nomads.startsWith(mount)) {
                    throw new IllegalArgumentException("cpuset_cgroup: \"" + request.cpusetCgroup()
                            + "\" is not a cgroup under this node's cpuset hierarchy " + mount);
                }
                joins.add(new CgroupJoin(nomads, false, List.of()));
            } else if (!limits.cpus().isEmpty()) {
                // Our parent clones cpuset.mems into new children (cgroup.clone_children), so cpus is all to write.
                joins.add(new CgroupJoin(dir(mount, parent, task), true,
                        List.of(new CgroupJoin.Write("cpuset.cpus", limits.cpus()))));
            }
        }
        return new CgroupPlan(CgroupVersion.V1, joins, limits, statsDirs(layout, parent, task));
    }

    private static CgroupPlan planV2(CgroupLayout layout, String parent, String task, CgroupLimits limits) {
        Path dir = dir(layout.mount(Controller.CPU), parent, task);
        List<CgroupJoin.Write> writes = new ArrayList<>();
        if (layout.has(Controller.CPU) && limits.cpuWeight() > 0) {
            writes.add(new CgroupJoin.Write("cpu.weight", Long.toString(limits.cpuWeight())));
        }
        if (layout.has(Controller.MEMORY)) {
            writes.add(new CgroupJoin.Write("memory.max", Long.toString(limits.memoryLimitBytes())));
            if (limits.memorySoftBytes() > 0) {
                writes.add(new CgroupJoin.Write("memory.low", Long.toString(limits.memorySoftBytes())));
            }
        }
        if (layout.has(Controller.PIDS)) {
            writes.add(new CgroupJoin.Write("pids.max", Long.toString(limits.pidsMax())));
        }
        if (layout.has(Controller.CPUSET) && !limits.cpus().isEmpty()) {
            writes.add(new CgroupJoin.Write("cpuset.cpus", limits.cpus()));
        }
        return new CgroupPlan(CgroupVersion.V2, List.of(new CgroupJoin(dir, true, writes)), limits,
                statsDirs(layout, parent, task));
    }

    /** Where a task's usage is read, from its name alone (so also after a plugin restart). */
    public static TaskCgroupDirs statsDirs(CgroupLayout layout, String parent, String task) {
        return switch (layout.version()) {
            case NONE -> TaskCgroupDirs.NONE;
            case V1 -> new TaskCgroupDirs(CgroupVersion.V1, v1Dir(layout, Controller.MEMORY, parent, task),
                    v1Dir(layout, Controller.CPUACCT, parent, task), v1Dir(layout, Controller.CPU, parent, task));
            case V2 -> {
                Path dir = dir(layout.mount(Controller.CPU), parent, task);
                yield new TaskCgroupDirs(CgroupVersion.V2,
                        layout.has(Controller.MEMORY) ? Optional.of(dir) : Optional.empty(), Optional.of(dir),
                        Optional.of(dir));
            }
        };
    }

    private static Optional<Path> v1Dir(CgroupLayout layout, Controller c, String parent, String task) {
        return layout.has(c) ? Optional.of(dir(layout.mount(c), parent, task)) : Optional.empty();
    }

    static Path dir(Path mount, String parent, String task) {
        return mount.resolve(parent).resolve(task);
    }
}
