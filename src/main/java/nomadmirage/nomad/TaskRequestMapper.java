package nomadmirage.nomad;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import nomadmirage.proto.drivers.NetworkIsolationSpec;
import nomadmirage.proto.drivers.PortMapping;
import nomadmirage.proto.drivers.Resources;
import nomadmirage.proto.drivers.TaskConfig;
import nomadmirage.config.ConfigException;
import nomadmirage.config.TaskConfigParser;
import nomadmirage.driver.InvalidTaskException;
import nomadmirage.driver.TaskId;
import nomadmirage.driver.TaskRequest;

/** Nomad's TaskConfig (wire) → TaskRequest (domain). */
final class TaskRequestMapper {
    private static final long MIB = 1024L * 1024;

    private TaskRequestMapper() {
    }

    /** Nomad's task id; an empty one is a bad request. */
    static TaskId taskId(String id) throws InvalidTaskException {
        if (id == null || id.isBlank()) {
            throw new InvalidTaskException("task_id: empty; Nomad always sends the task's id");
        }
        return new TaskId(id);
    }

    /** The job's {@code config {}} block, decoded and validated. */
    static nomadmirage.config.TaskConfig driverConfig(TaskConfig task) throws InvalidTaskException {
        try {
            return TaskConfigParser.parse(CtyMsgpack.decodeObject(task.getMsgpackDriverConfig().toByteArray()));
        } catch (ConfigException | CtyDecodeException e) {
            throw new InvalidTaskException(e.getMessage(), e);
        }
    }

    /** Nomad sends the shares in both places; an older or partial request may carry only one. */
    private static long cpuShares(Resources resources) {
        long allocated = resources.getAllocatedResources().getCpu().getCpuShares();
        return allocated > 0 ? allocated : resources.getLinuxResources().getCpuShares();
    }

    /**
     * The allocation's network namespace in group ("bridge") mode, exactly the path Nomad gives (Nomad's
     * /var/run/netns/ALLOC, or a namespace another driver made); empty in host mode.
     */
    static Optional<Path> groupNamespace(TaskConfig task) throws InvalidTaskException {
        if (!task.hasNetworkIsolationSpec()) {
            return Optional.empty();
        }
        NetworkIsolationSpec spec = task.getNetworkIsolationSpec();
        switch (spec.getMode()) {
            case HOST:
                return Optional.empty();
            case GROUP:
                break;
            default:
                throw new InvalidTaskException("network isolation mode " + spec.getMode() + " is not supported: the "
                        + "mirage driver runs unikernels in host or group (bridge) networking mode");
        }
        String path = spec.getPath();
        if (path.isEmpty() || !path.startsWith("/") || path.indexOf('\0') >= 0 || path.length() > 4096) {
            throw new InvalidTaskException("group networking: the allocation's network namespace path \"" + path
                    + "\" is not an absolute path");
        }
        return Optional.of(Path.of(path));
    }

    static TaskRequest fromProto(TaskConfig task) throws InvalidTaskException {
        Resources resources = task.getResources();
        long memoryMb = resources.getAllocatedResources().getMemory().getMemoryMb();
        if (memoryMb <= 0 && resources.getLinuxResources().getMemoryLimitBytes() > 0) {
            memoryMb = resources.getLinuxResources().getMemoryLimitBytes() / MIB;
        }
        List<TaskRequest.PortMapping> ports = new ArrayList<>();
        for (PortMapping p : resources.getPortsList()) {
            ports.add(new TaskRequest.PortMapping(p.getLabel(), p.getValue(), p.getTo(), p.getHostIp()));
        }
        return new TaskRequest(
                taskId(task.getId()),
                task.getName(),
                task.getAllocId(),
                task.getJobName(),
                task.getTaskGroupName(),
                task.getNamespace(),
                Path.of(task.getAllocDir()),
                task.getStdoutPath().isEmpty() ? null : Path.of(task.getStdoutPath()),
                task.getStderrPath().isEmpty() ? null : Path.of(task.getStderrPath()),
                task.getUser(),
                memoryMb,
                resources.getAllocatedResources().getMemory().getMemoryMaxMb(),
                cpuShares(resources),
                ports,
                resources.getLinuxResources().getCpusetCpus(),
                resources.getLinuxResources().getCpusetCgroup());
    }
}
