package nomadmirage.cgroup;

/**
 * The limits a tender's cgroup enforces, as planned.
 *
 * @param memoryLimitBytes hard limit: guest memory (or memory_max) plus the tender's overhead
 * @param memorySoftBytes soft limit (v1 memory.soft_limit_in_bytes, v2 memory.low): guest memory plus
 *     overhead, only when memory_max raises the hard limit above it; else 0 (none written)
 * @param cpuShares v1 cpu.shares, 0 when the task asked for none
 * @param cpuWeight v2 cpu.weight (Nomad's conversion of the shares), 0 when none
 * @param pidsMax processes and threads the tender may have
 * @param cpus the cores the tender may run on, empty for any
 */
public record CgroupLimits(long memoryLimitBytes, long memorySoftBytes, long cpuShares, long cpuWeight, long pidsMax,
        String cpus) {
}
