package nomadmirage.nomad;

import static nomadmirage.nomad.HclSpecs.attrWithDefault;
import static nomadmirage.nomad.HclSpecs.quoted;

import java.util.LinkedHashMap;
import java.util.Map;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.PluginConfigKeys;
import nomadmirage.proto.hclspec.Spec;

/** The hclspec of the agent-side plugin configuration, with the defaults filled in by Nomad. */
final class PluginConfigSchema {
    private PluginConfigSchema() {
    }

    static Spec spec() {
        Map<String, Spec> fields = new LinkedHashMap<>();
        fields.put(PluginConfigKeys.SOLO5_HVT,
                attrWithDefault(PluginConfigKeys.SOLO5_HVT, "string", quoted(PluginConfig.DEFAULT_HVT)));
        fields.put(PluginConfigKeys.SOLO5_SPT,
                attrWithDefault(PluginConfigKeys.SOLO5_SPT, "string", quoted(PluginConfig.DEFAULT_SPT)));
        fields.put(PluginConfigKeys.QEMU,
                attrWithDefault(PluginConfigKeys.QEMU, "string", quoted(PluginConfig.DEFAULT_QEMU)));
        fields.put(PluginConfigKeys.BRIDGE,
                attrWithDefault(PluginConfigKeys.BRIDGE, "string", quoted(PluginConfig.DEFAULT_BRIDGE)));
        fields.put(PluginConfigKeys.SUBNET,
                attrWithDefault(PluginConfigKeys.SUBNET, "string", quoted(PluginConfig.DEFAULT_SUBNET)));
        fields.put(PluginConfigKeys.STATE_DIR,
                attrWithDefault(PluginConfigKeys.STATE_DIR, "string", quoted(PluginConfig.DEFAULT_STATE_DIR)));
        fields.put(PluginConfigKeys.IMAGE_PATHS,
                attrWithDefault(PluginConfigKeys.IMAGE_PATHS, "list(string)", "[]"));
        fields.put(PluginConfigKeys.LOG_LEVEL,
                attrWithDefault(PluginConfigKeys.LOG_LEVEL, "string", quoted(PluginConfig.DEFAULT_LOG_LEVEL)));
        fields.put(PluginConfigKeys.FINGERPRINT_PERIOD, attrWithDefault(PluginConfigKeys.FINGERPRINT_PERIOD,
                "string", quoted(PluginConfig.DEFAULT_FINGERPRINT_PERIOD)));
        fields.put(PluginConfigKeys.DEFAULT_USER,
                attrWithDefault(PluginConfigKeys.DEFAULT_USER, "string", quoted(PluginConfig.DEFAULT_USER)));
        fields.put(PluginConfigKeys.QEMU_AUTO_KVM, attrWithDefault(PluginConfigKeys.QEMU_AUTO_KVM, "bool", "false"));
        fields.put(PluginConfigKeys.QEMU_ALLOWED_ARGS,
                attrWithDefault(PluginConfigKeys.QEMU_ALLOWED_ARGS, "map(string)", "{}"));
        fields.put(PluginConfigKeys.MAC_OUI,
                attrWithDefault(PluginConfigKeys.MAC_OUI, "string", quoted(PluginConfig.DEFAULT_MAC_OUI)));
        fields.put(PluginConfigKeys.MTU, attrWithDefault(PluginConfigKeys.MTU, "number",
                Integer.toString(PluginConfig.DEFAULT_MTU)));
        fields.put(PluginConfigKeys.ISOLATE_TASKS, attrWithDefault(PluginConfigKeys.ISOLATE_TASKS, "bool", "false"));
        fields.put(PluginConfigKeys.RECONCILE_DELAY, attrWithDefault(PluginConfigKeys.RECONCILE_DELAY, "string",
                quoted(PluginConfig.DEFAULT_RECONCILE_DELAY)));
        fields.put(PluginConfigKeys.RECONCILE_INTERVAL, attrWithDefault(PluginConfigKeys.RECONCILE_INTERVAL, "string",
                quoted(PluginConfig.DEFAULT_RECONCILE_INTERVAL)));
        fields.put(PluginConfigKeys.MAX_BLOCK_SIZE, attrWithDefault(PluginConfigKeys.MAX_BLOCK_SIZE, "string",
                quoted(PluginConfig.DEFAULT_MAX_BLOCK_SIZE)));
        fields.put(PluginConfigKeys.ALLOWED_USERS,
                attrWithDefault(PluginConfigKeys.ALLOWED_USERS, "list(string)", "[]"));
        fields.put(PluginConfigKeys.DYNAMIC_USER_MIN, attrWithDefault(PluginConfigKeys.DYNAMIC_USER_MIN, "number",
                Integer.toString(nomadmirage.config.UidRange.DEFAULT_MIN)));
        fields.put(PluginConfigKeys.DYNAMIC_USER_MAX, attrWithDefault(PluginConfigKeys.DYNAMIC_USER_MAX, "number",
                Integer.toString(nomadmirage.config.UidRange.DEFAULT_MAX)));
        fields.put(PluginConfigKeys.CGROUP_PARENT, attrWithDefault(PluginConfigKeys.CGROUP_PARENT, "string",
                quoted(PluginConfig.DEFAULT_CGROUP_PARENT)));
        return HclSpecs.object(fields);
    }
}
