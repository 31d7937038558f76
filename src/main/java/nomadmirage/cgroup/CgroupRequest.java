package nomadmirage.cgroup;

import java.util.Objects;
import nomadmirage.tender.TenderKind;

/**
 * A task's resources as Nomad allocated them, for its tender's cgroup.
 *
 * @param cpuShares the task's {@code cpu} in MHz (with {@code cores}: the cores' share), 0 when unset
 * @param memoryMb the guest memory the tender gets
 * @param memoryMaxMb {@code memory_max} (0 unless the scheduler allows oversubscription)
 * @param cpusetCpus the cores Nomad reserved for the task ("2,3"), empty without {@code cores}
 * @param cpusetCgroup the cpuset cgroup Nomad made for the task (absolute), empty when it made none
 */
public record CgroupRequest(TenderKind kind, long cpuShares, long memoryMb, long memoryMaxMb, String cpusetCpus,
        String cpusetCgroup) {
    public CgroupRequest {
        Objects.requireNonNull(kind, "kind");
        cpusetCpus = cpusetCpus == null ? "" : cpusetCpus.strip();
        cpusetCgroup = cpusetCgroup == null ? "" : cpusetCgroup.strip();
    }
}
