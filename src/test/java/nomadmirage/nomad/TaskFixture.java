package nomadmirage.nomad;

import com.google.protobuf.ByteString;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import nomadmirage.driver.TaskId;
import nomadmirage.proto.drivers.AllocatedMemoryResources;
import nomadmirage.proto.drivers.AllocatedTaskResources;
import nomadmirage.proto.drivers.PortMapping;
import nomadmirage.proto.drivers.Resources;
import nomadmirage.proto.drivers.TaskConfig;
import nomadmirage.solo5.AbiTarget;
import nomadmirage.solo5.DeviceType;
import nomadmirage.solo5.TestUnikernels;

/**
 * One task as Nomad would send it: an id of Nomad's shape ({@code alloc/task/suffix}), its alloc and
 * task directories with a unikernel image of the chosen target and devices, and its job config.
 */
final class TaskFixture {
    final String id;
    final String allocId;
    final String name;
    private final Path allocs;
    private final Path stateDir;
    private AbiTarget target = AbiTarget.SPT;
    private final Map<String, DeviceType> devices = new LinkedHashMap<>();
    private final List<Map<String, Object>> blocks = new ArrayList<>();
    private final List<Map<String, Object>> networks = new ArrayList<>();
    private final List<PortMapping> ports = new ArrayList<>();
    private final Map<String, Object> extra = new LinkedHashMap<>();
    private String user = "";
    private long cpuShares;
    private long memoryMaxMb;
    private String cpusetCpus = "";
    private String cpusetCgroup = "";

    TaskFixture(String id, Path allocs, Path stateDir) {
        String[] parts = id.split("/");
        if (parts.length != 3) {
            throw new IllegalArgumentException("a Nomad task id is alloc/task/suffix: " + id);
        }
        this.id = id;
        this.allocId = parts[0];
        this.name = parts[1];
        this.allocs = allocs;
        this.stateDir = stateDir;
    }

    /** Nomad's allocated CPU (shares), memory_max and reserved cores with the cpuset cgroup it made. */
    TaskFixture resources(long cpu, long memoryMax, String cores, String cpusetCgroupPath) {
        this.cpuShares = cpu;
        this.memoryMaxMb = memoryMax;
        this.cpusetCpus = cores;
        this.cpusetCgroup = cpusetCgroupPath;
        return this;
    }

    TaskFixture target(AbiTarget target) {
        this.target = target;
        return this;
    }

    /** A manifest device of the unikernel, in order. */
    TaskFixture device(String deviceName, DeviceType type) {
        devices.put(deviceName, type);
        return this;
    }

    /** A network device with the default network settings. */
    TaskFixture net(String deviceName) {
        return device(deviceName, DeviceType.NET_BASIC);
    }

    /** A block device backed by a file the driver creates ({@code size} bytes) at {@code path} in the task dir. */
    TaskFixture newBlock(String deviceName, String path, long size) {
        device(deviceName, DeviceType.BLOCK_BASIC);
        blocks.add(new LinkedHashMap<>(Map.of("name", deviceName, "path", path, "size", size)));
        return this;
    }

    TaskFixture port(String label, int value, int to) {
        ports.add(PortMapping.newBuilder().setLabel(label).setValue(value).setTo(to).build());
        return this;
    }

    TaskFixture user(String taskUser) {
        this.user = taskUser;
        return this;
    }

    /** Any other key of the job's config block (e.g. "args", "tender"). */
    TaskFixture config(String key, Object value) {
        extra.put(key, value);
        return this;
    }

    Path allocDir() {
        return allocs.resolve(allocId);
    }

    Path taskDir() {
        return allocDir().resolve(name);
    }

    String fileName() {
        return new TaskId(id).fileName();
    }

    Path runDir() {
        return stateDir.resolve("tasks").resolve(fileName());
    }

    /** Lays out the directories and the image, and builds Nomad's TaskConfig. */
    TaskConfig proto() {
        String image = "local/app." + target.elftoolName();
        try {
            Files.createDirectories(taskDir().resolve("local"));
            Files.createDirectories(allocDir().resolve("alloc"));
            Files.write(taskDir().resolve(image),
                    TestUnikernels.image(target, target == AbiTarget.VIRTIO ? 1 : 2, devices));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("unikernel", image);
        if (!blocks.isEmpty()) {
            config.put("block", blocks);
        }
        if (!networks.isEmpty()) {
            config.put("network", networks);
        }
        config.putAll(extra);
        return TaskConfig.newBuilder()
                .setId(id)
                .setName(name)
                .setAllocId(allocId)
                .setAllocDir(allocDir().toString())
                .setJobName("job")
                .setTaskGroupName("group")
                .setNamespace("default")
                .setUser(user)
                .putEnv("NOMAD_TASK_NAME", name)
                .setMsgpackDriverConfig(ByteString.copyFrom(TestMsgpack.encode(config)))
                .setResources(Resources.newBuilder()
                        .setAllocatedResources(AllocatedTaskResources.newBuilder()
                                .setMemory(AllocatedMemoryResources.newBuilder().setMemoryMb(32)
                                        .setMemoryMaxMb(memoryMaxMb))
                                .setCpu(nomadmirage.proto.drivers.AllocatedCpuResources.newBuilder()
                                        .setCpuShares(cpuShares)))
                        .setLinuxResources(nomadmirage.proto.drivers.LinuxResources.newBuilder()
                                .setCpuShares(cpuShares).setCpusetCpus(cpusetCpus).setCpusetCgroup(cpusetCgroup))
                        .addAllPorts(ports))
                .build();
    }
}
