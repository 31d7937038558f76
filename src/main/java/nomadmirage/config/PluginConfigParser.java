package nomadmirage.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import nomadmirage.log.LogLevel;

/**
 * Builds a {@link PluginConfig} from the decoded agent configuration (a map of
 * the schema's keys to plain values). Absent or null keys take the defaults;
 * anything else must be valid, or a {@link ConfigException} names the field.
 */
public final class PluginConfigParser {
    private static final Pattern INTERFACE_NAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");
    private static final Pattern QEMU_OPTION = Pattern.compile("-[A-Za-z0-9][A-Za-z0-9_-]*");
    /** qemu options no job may add: they would undo what the driver sets up. */
    static final List<String> RESERVED_QEMU_OPTIONS = List.of("-sandbox");
    private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h)");
    static final Duration MIN_FINGERPRINT_PERIOD = Duration.ofSeconds(1);

    private PluginConfigParser() {
    }

    public static PluginConfig parse(Map<String, Object> raw) throws ConfigException {
        for (String key : raw.keySet()) {
            if (!PluginConfigKeys.ALL.contains(key)) {
                throw new ConfigException(key, raw.get(key), "unknown setting; known settings are " + PluginConfigKeys.ALL);
            }
        }
        String hvt = executable(raw, PluginConfigKeys.SOLO5_HVT, PluginConfig.DEFAULT_HVT);
        String spt = executable(raw, PluginConfigKeys.SOLO5_SPT, PluginConfig.DEFAULT_SPT);
        String qemu = executable(raw, PluginConfigKeys.QEMU, PluginConfig.DEFAULT_QEMU);

        String bridge = bridge(PluginConfigKeys.BRIDGE, string(raw, PluginConfigKeys.BRIDGE, PluginConfig.DEFAULT_BRIDGE));
        Ipv4Cidr subnet = subnet(PluginConfigKeys.SUBNET, string(raw, PluginConfigKeys.SUBNET, PluginConfig.DEFAULT_SUBNET));

        String stateDirText = string(raw, PluginConfigKeys.STATE_DIR, PluginConfig.DEFAULT_STATE_DIR);
        Path stateDir = StateDirDefault.effective(absolutePath(PluginConfigKeys.STATE_DIR, stateDirText));

        List<Path> imagePaths = new ArrayList<>();
        Object images = raw.get(PluginConfigKeys.IMAGE_PATHS);
        if (images != null) {
            if (!(images instanceof List<?> list)) {
                throw new ConfigException(PluginConfigKeys.IMAGE_PATHS, images, "expected a list of absolute directory paths");
            }
            for (int i = 0; i < list.size(); i++) {
                String field = PluginConfigKeys.IMAGE_PATHS + "[" + i + "]";
                if (!(list.get(i) instanceof String entry)) {
                    throw new ConfigException(field, list.get(i), "expected an absolute directory path");
                }
                imagePaths.add(absolutePath(field, entry));
            }
        }

        String levelText = string(raw, PluginConfigKeys.LOG_LEVEL, PluginConfig.DEFAULT_LOG_LEVEL);
        LogLevel level = LogLevel.parse(levelText);
        if (level == null || level == LogLevel.OFF) {
            throw new ConfigException(PluginConfigKeys.LOG_LEVEL, levelText, "allowed: trace, debug, info, warn, error");
        }

        String periodText = string(raw, PluginConfigKeys.FINGERPRINT_PERIOD, PluginConfig.DEFAULT_FINGERPRINT_PERIOD);
        Duration period = duration(periodText);
        if (period == null || period.compareTo(MIN_FINGERPRINT_PERIOD) < 0) {
            throw new ConfigException(PluginConfigKeys.FINGERPRINT_PERIOD, periodText,
                    "expected a duration of at least 1s such as \"30s\", \"2m\" or \"1h\"");
        }
        List<String> allowedUsers = ConfigValues.stringList(raw, PluginConfigKeys.ALLOWED_USERS,
                PluginConfigKeys.ALLOWED_USERS);
        for (int i = 0; i < allowedUsers.size(); i++) {
            if (!UserNames.isEntry(allowedUsers.get(i))) {
                throw new ConfigException(PluginConfigKeys.ALLOWED_USERS + "[" + i + "]", allowedUsers.get(i),
                        "expected a user name or a numeric uid");
            }
        }
        UidRange taskUids = taskUids(raw);
        String user = string(raw, PluginConfigKeys.DEFAULT_USER, PluginConfig.DEFAULT_USER);
        if (!user.isEmpty() && !UserNames.isWellFormed(user)) {
            throw new ConfigException(PluginConfigKeys.DEFAULT_USER, user,
                    "expected a user name or a numeric uid (optionally uid:gid) to run tenders as");
        }
        if (UserNames.writtenAsRoot(user) && !UserNames.allowsRoot(allowedUsers)) {
            throw new ConfigException(PluginConfigKeys.DEFAULT_USER, user,
                    "tenders would run as root (uid 0) or with root's group (gid 0), which the plugin refuses "
                            + "unless " + PluginConfigKeys.ALLOWED_USERS + " lists \"root\" or \"0\"; "
                            + "leave it out (each task then runs as a uid of its own)");
        }
        if (taskUids.contains(UserNames.uid(user)) || taskUids.contains(UserNames.gid(user))) {
            throw new ConfigException(PluginConfigKeys.DEFAULT_USER, user, "its uid or gid"
                    + " is one of the per-task uids (" + PluginConfigKeys.DYNAMIC_USER_MIN + ".."
                    + PluginConfigKeys.DYNAMIC_USER_MAX + " = " + taskUids + "), which are never shared; "
                    + "leave " + PluginConfigKeys.DEFAULT_USER + " out to give each task its own");
        }
        Object autoKvm = raw.get(PluginConfigKeys.QEMU_AUTO_KVM);
        if (autoKvm != null && !(autoKvm instanceof Boolean)) {
            throw new ConfigException(PluginConfigKeys.QEMU_AUTO_KVM, autoKvm, "expected true or false");
        }
        Map<String, String> qemuArgs = qemuAllowedArgs(raw.get(PluginConfigKeys.QEMU_ALLOWED_ARGS));
        String maxBlockText = string(raw, PluginConfigKeys.MAX_BLOCK_SIZE, PluginConfig.DEFAULT_MAX_BLOCK_SIZE);
        long maxBlock = ByteSize.parse(maxBlockText);
        if (maxBlock < 512 || maxBlock > ByteSize.MAX_BLOCK_BYTES) {
            throw new ConfigException(PluginConfigKeys.MAX_BLOCK_SIZE, maxBlockText,
                    "expected a size from 512 bytes to 1TiB such as \"16GiB\" or \"512MiB\": the largest block "
                            + "file the driver creates for a job");
        }
        String oui = string(raw, PluginConfigKeys.MAC_OUI, PluginConfig.DEFAULT_MAC_OUI);
        if (!oui.matches("[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){2}") || (Integer.parseInt(oui.substring(0, 2), 16) & 1) != 0) {
            throw new ConfigException(PluginConfigKeys.MAC_OUI, oui,
                    "expected three hex bytes such as \"00:80:41\" with the multicast bit of the first byte clear");
        }
        long mtu = ConfigValues.optionalLong(raw, PluginConfigKeys.MTU, PluginConfigKeys.MTU).orElse((long) PluginConfig.DEFAULT_MTU);
        if (mtu < 576 || mtu > 65535) {
            throw new ConfigException(PluginConfigKeys.MTU, mtu, "expected an MTU from 576 to 65535");
        }
        Object isolate = raw.get(PluginConfigKeys.ISOLATE_TASKS);
        if (isolate != null && !(isolate instanceof Boolean)) {
            throw new ConfigException(PluginConfigKeys.ISOLATE_TASKS, isolate,
                    "expected true (tasks on the bridge cannot reach each other) or false (they can, as on Nomad's bridge)");
        }
        String delayText = string(raw, PluginConfigKeys.RECONCILE_DELAY, PluginConfig.DEFAULT_RECONCILE_DELAY);
        Duration delay = duration(delayText);
        if (delay == null) {
            throw new ConfigException(PluginConfigKeys.RECONCILE_DELAY, delayText,
                    "expected a duration such as \"2m\" or \"30s\": how long after start-up orphaned network objects are removed");
        }
        String intervalText = string(raw, PluginConfigKeys.RECONCILE_INTERVAL, PluginConfig.DEFAULT_RECONCILE_INTERVAL);
        Duration interval = duration(intervalText);
        if (interval == null || interval.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new ConfigException(PluginConfigKeys.RECONCILE_INTERVAL, intervalText,
                    "expected a duration of at least \"1s\" such as \"5m\": how often orphaned tenders, run directories "
                            + "and network objects are looked for after the first reconcile");
        }
        String cgroupParent = string(raw, PluginConfigKeys.CGROUP_PARENT, PluginConfig.DEFAULT_CGROUP_PARENT);
        if (!cgroupParent.matches("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}){0,3}")
                || cgroupParent.matches(".*(^|/)\\.\\.?(/|$).*")) {
            throw new ConfigException(PluginConfigKeys.CGROUP_PARENT, cgroupParent,
                    "expected a relative cgroup path of 1 to 4 names (letters, digits, '_', '.', '-'; no \"..\") "
                            + "such as \"nomad-mirage\": each tender's cgroup is <hierarchy>/<cgroup_parent>/<task>");
        }
        return new PluginConfig(hvt, spt, qemu, bridge, subnet, stateDir, imagePaths, level, period, user,
                Boolean.TRUE.equals(autoKvm), new PluginConfig.Limits(qemuArgs, maxBlock, allowedUsers, taskUids), oui.toLowerCase(java.util.Locale.ROOT), (int) mtu,
                Boolean.TRUE.equals(isolate), new PluginConfig.Reconcile(delay, interval), cgroupParent);
    }

    private static UidRange taskUids(Map<String, Object> raw) throws ConfigException {
        long min = ConfigValues.optionalLong(raw, PluginConfigKeys.DYNAMIC_USER_MIN, PluginConfigKeys.DYNAMIC_USER_MIN)
                .orElse((long) UidRange.DEFAULT_MIN);
        long max = ConfigValues.optionalLong(raw, PluginConfigKeys.DYNAMIC_USER_MAX, PluginConfigKeys.DYNAMIC_USER_MAX)
                .orElse((long) UidRange.DEFAULT_MAX);
        if (min < 1000 || min > Integer.MAX_VALUE - 1) {
            throw new ConfigException(PluginConfigKeys.DYNAMIC_USER_MIN, min, "expected a uid from 1000 to "
                    + (Integer.MAX_VALUE - 1) + ": the first of the uids given to tasks one each (below 1000 are "
                    + "system users)");
        }
        if (max < min || max > Integer.MAX_VALUE - 1) {
            throw new ConfigException(PluginConfigKeys.DYNAMIC_USER_MAX, max, "expected a uid from "
                    + PluginConfigKeys.DYNAMIC_USER_MIN + " (" + min + ") to " + (Integer.MAX_VALUE - 1)
                    + ": the last of the uids given to tasks one each");
        }
        return new UidRange((int) min, (int) max);
    }

    /**
     * {@code qemu_allowed_args}: each qemu option a job may add, mapped to the regular expression its
     * value must match (as a whole), or to "" for an option that takes no value.
     */
    private static Map<String, String> qemuAllowedArgs(Object value) throws ConfigException {
        String key = PluginConfigKeys.QEMU_ALLOWED_ARGS;
        if (value == null) {
            return Map.of();
        }
        if (!(value instanceof Map<?, ?> map)) {
            throw new ConfigException(key, value, "expected a map of qemu options to the regular expression their "
                    + "value must match, \"\" for an option without a value, e.g. { \"-smp\" = \"[1-8]\" }");
        }
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (var entry : map.entrySet()) {
            String option = String.valueOf(entry.getKey());
            String field = key + "[\"" + option + "\"]";
            if (!QEMU_OPTION.matcher(option).matches()) {
                throw new ConfigException(field, option, "expected a qemu option name such as \"-smp\"");
            }
            if (RESERVED_QEMU_OPTIONS.contains(option)) {
                throw new ConfigException(field, option, "the driver sets this option itself and no job may change it");
            }
            if (!(entry.getValue() instanceof String pattern)) {
                throw new ConfigException(field, entry.getValue(),
                        "expected the regular expression the option's value must match, or \"\" for no value");
            }
            try {
                java.util.regex.Pattern.compile(pattern);
            } catch (java.util.regex.PatternSyntaxException e) {
                throw new ConfigException(field, pattern, "not a valid regular expression: "
                        + e.getDescription() + " near index " + e.getIndex());
            }
            out.put(option, pattern);
        }
        return out;
    }

    /**
     * The {@code bridge} setting's rule, also applied by operator commands that take a bridge;
     * {@code field} names the setting or option in the message.
     */
    public static String bridge(String field, String value) throws ConfigException {
        if (!INTERFACE_NAME.matcher(value).matches()) {
            throw new ConfigException(field, value,
                    "a Linux interface name is 1 to 15 characters of letters, digits, '_', '.' and '-'");
        }
        return value;
    }

    /** The {@code subnet} setting's rule, like {@link #bridge}. */
    public static Ipv4Cidr subnet(String field, String text) throws ConfigException {
        Ipv4Cidr subnet = Ipv4Cidr.parse(text);
        if (subnet == null || subnet.prefixLength() > 30 || subnet.prefixLength() < 8) {
            throw new ConfigException(field, text,
                    "expected an IPv4 network in CIDR form with zero host bits and a prefix from /8 to /30, e.g. 10.99.0.0/16");
        }
        return subnet;
    }

    private static String string(Map<String, Object> raw, String key, String fallback) throws ConfigException {
        return ConfigValues.optionalString(raw, key, key).orElse(fallback);
    }

    private static String executable(Map<String, Object> raw, String key, String fallback) throws ConfigException {
        String value = string(raw, key, fallback);
        if (value.isBlank() || value.contains("\0") || (value.contains("/") && !value.startsWith("/"))) {
            throw new ConfigException(key, value,
                    "expected a command name looked up on PATH (e.g. \"" + fallback + "\") or an absolute path");
        }
        return value;
    }

    private static Path absolutePath(String key, String value) throws ConfigException {
        if (!value.startsWith("/") || value.contains("\0")) {
            throw new ConfigException(key, value, "expected an absolute path");
        }
        return Path.of(value).normalize();
    }

    static Duration duration(String text) {
        var matcher = DURATION.matcher(text.trim());
        if (!matcher.matches()) {
            return null;
        }
        long amount = Long.parseLong(matcher.group(1));
        return switch (matcher.group(2)) {
            case "ms" -> Duration.ofMillis(amount);
            case "s" -> Duration.ofSeconds(amount);
            case "m" -> Duration.ofMinutes(amount);
            default -> Duration.ofHours(amount);
        };
    }
}
