package nomadmirage.driver;

import java.nio.file.Path;
import java.util.List;

/**
 * What Nomad asks to start, independent of the wire format: identity, where
 * the task lives, its console FIFOs, user and resources. (The job's driver
 * config travels separately, decoded.) The task's environment is not taken
 * over at all: a unikernel has none, and the tender gets a fixed one
 * ({@link nomadmirage.proc.LaunchRequest#TENDER_ENVIRONMENT}).
 *
 * <p>{@code cpuMhz} is Nomad's CPU shares for the task; {@code cpusetCpus} the cores it reserved
 * ("2,3", empty without {@code cores}) and {@code cpusetCgroup} the cpuset cgroup it made for the
 * task (empty when none): an external plugin sees reserved cores only there.
 */
public record TaskRequest(
        TaskId id,
        String name,
        String allocId,
        String jobName,
        String groupName,
        String namespace,
        Path allocDir,
        Path stdoutPath,
        Path stderrPath,
        String user,
        long memoryMb,
        long memoryMaxMb,
        long cpuMhz,
        List<PortMapping> ports,
        String cpusetCpus,
        String cpusetCgroup) {

    public TaskRequest {
        ports = List.copyOf(ports);
        cpusetCpus = cpusetCpus == null ? "" : cpusetCpus;
        cpusetCgroup = cpusetCgroup == null ? "" : cpusetCgroup;
    }

    /** A task without reserved cores. */
    public TaskRequest(TaskId id, String name, String allocId, String jobName, String groupName, String namespace,
            Path allocDir, Path stdoutPath, Path stderrPath, String user, long memoryMb, long memoryMaxMb, long cpuMhz,
            List<PortMapping> ports) {
        this(id, name, allocId, jobName, groupName, namespace, allocDir, stdoutPath, stderrPath, user, memoryMb,
                memoryMaxMb, cpuMhz, ports, "", "");
    }

    /** The task's own directory, {@code <alloc_dir>/<task name>}. */
    public Path taskDir() {
        return allocDir.resolve(name);
    }

    /** A group-level port Nomad allocated: host {@code value} → task port {@code to}. */
    public record PortMapping(String label, int value, int to, String hostIp) {
    }
}
