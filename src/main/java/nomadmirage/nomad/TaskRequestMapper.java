package nomadmirage.nomad;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import nomadmirage.proto.drivers.PortMapping;
import nomadmirage.proto.drivers.Resources;
import nomadmirage.proto.drivers.TaskConfig;
import nomadmirage.driver.TaskId;
import nomadmirage.driver.TaskRequest;

/** Nomad's TaskConfig (wire) → TaskRequest (domain). */
final class TaskRequestMapper {
    private static final long MIB = 1024L * 1024;

    private TaskRequestMapper() {
    }

    static TaskRequest fromProto(TaskConfig task) {
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
                new TaskId(task.getId()),
                task.getName(),
                task.getAllocId(),
                task.getJobName(),
                task.getTaskGroupName(),
                task.getNamespace(),
                Path.of(task.getAllocDir()),
                task.getStdoutPath().isEmpty() ? null : Path.of(task.getStdoutPath()),
                task.getStderrPath().isEmpty() ? null : Path.of(task.getStderrPath()),
                task.getEnvMap(),
                task.getUser(),
                memoryMb,
                resources.getAllocatedResources().getMemory().getMemoryMaxMb(),
                resources.getAllocatedResources().getCpu().getCpuShares(),
                ports);
    }
}
