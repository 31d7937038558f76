package nomadmirage.nomad;

import static nomadmirage.nomad.HclSpecs.attr;
import static nomadmirage.nomad.HclSpecs.attrWithDefault;
import static nomadmirage.nomad.HclSpecs.requiredAttr;

import java.util.LinkedHashMap;
import java.util.Map;
import nomadmirage.config.TaskConfigKeys;
import nomadmirage.proto.hclspec.Spec;

/** The hclspec of a job's {@code config {}} block for {@code driver = "mirage"}. */
final class TaskConfigSchema {
    private TaskConfigSchema() {
    }

    static Spec spec() {
        Map<String, Spec> fields = new LinkedHashMap<>();
        fields.put(TaskConfigKeys.UNIKERNEL, requiredAttr(TaskConfigKeys.UNIKERNEL, "string"));
        fields.put(TaskConfigKeys.ARGS, attrWithDefault(TaskConfigKeys.ARGS, "list(string)", "[]"));
        fields.put(TaskConfigKeys.TENDER, attr(TaskConfigKeys.TENDER, "string"));

        Map<String, Spec> block = new LinkedHashMap<>();
        block.put(TaskConfigKeys.BLOCK_NAME, requiredAttr(TaskConfigKeys.BLOCK_NAME, "string"));
        block.put(TaskConfigKeys.BLOCK_PATH, requiredAttr(TaskConfigKeys.BLOCK_PATH, "string"));
        block.put(TaskConfigKeys.BLOCK_SIZE, attr(TaskConfigKeys.BLOCK_SIZE, "string"));
        block.put(TaskConfigKeys.BLOCK_SECTOR_SIZE, attr(TaskConfigKeys.BLOCK_SECTOR_SIZE, "number"));
        block.put(TaskConfigKeys.BLOCK_READ_ONLY, attr(TaskConfigKeys.BLOCK_READ_ONLY, "bool"));
        fields.put(TaskConfigKeys.BLOCK, HclSpecs.blockList(TaskConfigKeys.BLOCK, HclSpecs.object(block)));

        Map<String, Spec> qemu = new LinkedHashMap<>();
        qemu.put(TaskConfigKeys.QEMU_ACCELERATOR, attr(TaskConfigKeys.QEMU_ACCELERATOR, "string"));
        qemu.put(TaskConfigKeys.QEMU_MACHINE, attr(TaskConfigKeys.QEMU_MACHINE, "string"));
        qemu.put(TaskConfigKeys.QEMU_ARGS, attr(TaskConfigKeys.QEMU_ARGS, "list(string)"));
        fields.put(TaskConfigKeys.QEMU, HclSpecs.blockList(TaskConfigKeys.QEMU, HclSpecs.object(qemu)));

        Map<String, Spec> network = new LinkedHashMap<>();
        network.put(TaskConfigKeys.NETWORK_DEVICE, requiredAttr(TaskConfigKeys.NETWORK_DEVICE, "string"));
        network.put(TaskConfigKeys.NETWORK_PORTS, attr(TaskConfigKeys.NETWORK_PORTS, "list(string)"));
        network.put(TaskConfigKeys.NETWORK_MAC, attr(TaskConfigKeys.NETWORK_MAC, "string"));
        network.put(TaskConfigKeys.NETWORK_ADDRESS, attr(TaskConfigKeys.NETWORK_ADDRESS, "string"));
        network.put(TaskConfigKeys.NETWORK_IPV4_ARG, attr(TaskConfigKeys.NETWORK_IPV4_ARG, "string"));
        network.put(TaskConfigKeys.NETWORK_GATEWAY_ARG, attr(TaskConfigKeys.NETWORK_GATEWAY_ARG, "string"));
        fields.put(TaskConfigKeys.NETWORK, HclSpecs.blockList(TaskConfigKeys.NETWORK, HclSpecs.object(network)));
        fields.put(TaskConfigKeys.AUTO_ADVERTISE, attrWithDefault(TaskConfigKeys.AUTO_ADVERTISE, "bool", "false"));
        return HclSpecs.object(fields);
    }
}
