package nomadmirage.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import nomadmirage.log.LogLevel;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class PluginConfigParserTest {
    @Test
    void emptyConfigGivesTheDefaults() throws Exception {
        assertEquals(PluginConfig.defaults(), PluginConfigParser.parse(Map.of()));
    }

    @Test
    void nullValuesTakeDefaults() throws Exception {
        Map<String, Object> raw = new HashMap<>();
        raw.put("bridge", null);
        raw.put("image_paths", null);
        assertEquals(PluginConfig.defaults(), PluginConfigParser.parse(raw));
    }

    @Test
    void readsEverySetting() throws Exception {
        PluginConfig config = PluginConfigParser.parse(Map.of(
                "solo5_hvt", "/opt/solo5/bin/solo5-hvt", "solo5_spt", "spt", "qemu", "/usr/bin/qemu",
                "bridge", "br-uk", "subnet", "172.30.0.0/24", "state_dir", "/srv/mirage/",
                "image_paths", List.of("/srv/images"), "log_level", "DEBUG", "fingerprint_period", "2m"));
        assertEquals("/opt/solo5/bin/solo5-hvt", config.solo5Hvt());
        assertEquals("br-uk", config.bridge());
        assertEquals("172.30.0.0/24", config.subnet().toString());
        assertEquals(Path.of("/srv/mirage"), config.stateDir());
        assertEquals(List.of(Path.of("/srv/images")), config.imagePaths());
        assertEquals(LogLevel.DEBUG, config.logLevel());
        assertEquals(Duration.ofMinutes(2), config.fingerprintPeriod());
    }

    @Test
    void rootIsNotADefaultUserUnlessTheOperatorAllowsIt() throws Exception {
        for (String root : List.of("root", "0", "0:0", "0:1000", "1000:0", "00")) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> PluginConfigParser.parse(Map.of("default_user", root)), root);
            assertEquals("default_user", e.field(), e.getMessage());
            assertTrue(e.getMessage().contains("allowed_users"), e.getMessage());
            ConfigException notListed = assertThrows(ConfigException.class, () -> PluginConfigParser.parse(
                    Map.of("default_user", root, "allowed_users", List.of("nobody", "1000"))), root);
            assertEquals("default_user", notListed.field());
        }
        for (String allowRoot : List.of("root", "0")) {
            PluginConfig config = PluginConfigParser.parse(Map.of("default_user", "root",
                    "allowed_users", List.of("nobody", allowRoot)));
            assertEquals("root", config.defaultUser());
            assertEquals(List.of("nobody", allowRoot), config.limits().allowedUsers());
        }
    }

    @Test
    void qemuAllowedArgsMapsEachOptionToThePatternOfItsValue() throws Exception {
        PluginConfig config = PluginConfigParser.parse(Map.of("qemu_allowed_args",
                Map.of("-smp", "[0-9]{1,3}", "-no-hpet", "")));
        assertEquals(Map.of("-smp", "[0-9]{1,3}", "-no-hpet", ""), config.limits().qemuAllowedArgs());
        assertEquals(Map.of(), PluginConfig.defaults().limits().qemuAllowedArgs());
    }

    @Test
    void reconcileRunsAfterTheDelayThenEveryInterval() throws Exception {
        assertEquals(new PluginConfig.Reconcile(Duration.ofMinutes(2), Duration.ofMinutes(5)),
                PluginConfig.defaults().reconcile());
        assertEquals(new PluginConfig.Reconcile(Duration.ofSeconds(30), Duration.ofMinutes(1)),
                PluginConfigParser.parse(Map.of("reconcile_delay", "30s", "reconcile_interval", "1m")).reconcile());
    }

    @Test
    void maxBlockSizeDefaultsTo16GiB() throws Exception {
        assertEquals(16L << 30, PluginConfig.defaults().limits().maxBlockBytes());
        assertEquals(512L << 20, PluginConfigParser.parse(Map.of("max_block_size", "512MiB")).limits().maxBlockBytes());
        assertEquals(1L << 40, PluginConfigParser.parse(Map.of("max_block_size", "1TiB")).limits().maxBlockBytes());
    }

    @Test
    void tasksGetUidsOfTheirOwnFromARangeByDefault() throws Exception {
        PluginConfig defaults = PluginConfigParser.parse(Map.of());
        assertEquals("", defaults.defaultUser(), "no shared default user");
        assertEquals(new UidRange(80000, 89999), defaults.limits().taskUids());
        PluginConfig set = PluginConfigParser.parse(Map.of("dynamic_user_min", 200000L, "dynamic_user_max", 200009L,
                "default_user", "nobody"));
        assertEquals(new UidRange(200000, 200009), set.limits().taskUids());
        assertEquals(10, set.limits().taskUids().size());
        assertEquals("nobody", set.defaultUser());
    }

    @Test
    void tasksOnTheBridgeMayTalkUnlessIsolated() throws Exception {
        assertEquals(false, PluginConfig.defaults().isolateTasks());
        assertEquals(true, PluginConfigParser.parse(Map.of("isolate_tasks", true)).isolateTasks());
        assertEquals(false, PluginConfigParser.parse(Map.of("isolate_tasks", false)).isolateTasks());
    }

    @Test
    void tenderCgroupsLiveUnderARelativeParent() throws Exception {
        assertEquals("nomad-mirage", PluginConfigParser.parse(Map.of()).cgroupParent());
        assertEquals("nomad/mirage.slice", PluginConfigParser.parse(Map.of("cgroup_parent", "nomad/mirage.slice"))
                .cgroupParent());
    }

    static Stream<Arguments> badConfigs() {
        return Stream.of(
                Arguments.of(Map.of("bridge", "this-name-is-too-long"), "bridge", "1 to 15 characters"),
                Arguments.of(Map.of("bridge", 7L), "bridge", "expected a string"),
                Arguments.of(Map.of("subnet", "10.99.0.1/16"), "subnet", "zero host bits"),
                Arguments.of(Map.of("subnet", "10.99.0.0/31"), "subnet", "/8 to /30"),
                Arguments.of(Map.of("subnet", "banana"), "subnet", "CIDR"),
                Arguments.of(Map.of("state_dir", "relative/dir"), "state_dir", "absolute path"),
                Arguments.of(Map.of("image_paths", List.of("/ok", "nope")), "image_paths[1]", "absolute"),
                Arguments.of(Map.of("log_level", "verbose"), "log_level", "trace, debug, info, warn, error"),
                Arguments.of(Map.of("fingerprint_period", "10"), "fingerprint_period", "at least 1s"),
                Arguments.of(Map.of("fingerprint_period", "500ms"), "fingerprint_period", "at least 1s"),
                Arguments.of(Map.of("solo5_hvt", "bin/solo5-hvt"), "solo5_hvt", "absolute path"),
                Arguments.of(Map.of("qemu", ""), "qemu", "command name"),
                Arguments.of(Map.of("bridgee", "x"), "bridgee", "unknown setting"),
                Arguments.of(Map.of("qemu_allowed_args", List.of("-smp")), "qemu_allowed_args", "map of qemu options"),
                Arguments.of(Map.of("qemu_allowed_args", Map.of("smp", "")), "qemu_allowed_args[\"smp\"]", "option name"),
                Arguments.of(Map.of("qemu_allowed_args", Map.of("-smp", "[0-9")), "qemu_allowed_args[\"-smp\"]",
                        "regular expression"),
                Arguments.of(Map.of("qemu_allowed_args", Map.of("-sandbox", "off")), "qemu_allowed_args[\"-sandbox\"]",
                        "sets this option itself"),
                Arguments.of(Map.of("max_block_size", "lots"), "max_block_size", "512 bytes to 1TiB"),
                Arguments.of(Map.of("max_block_size", "2TiB"), "max_block_size", "512 bytes to 1TiB"),
                Arguments.of(Map.of("allowed_users", List.of("nobody", "bad user")), "allowed_users[1]", "user name"),
                Arguments.of(Map.of("allowed_users", List.of("1000:1000")), "allowed_users[0]", "numeric uid"),
                Arguments.of(Map.of("default_user", "--help"), "default_user", "user name"),
                Arguments.of(Map.of("dynamic_user_min", 999L), "dynamic_user_min", "from 1000 to"),
                Arguments.of(Map.of("dynamic_user_min", 90000L, "dynamic_user_max", 89999L), "dynamic_user_max",
                        "from dynamic_user_min (90000)"),
                Arguments.of(Map.of("dynamic_user_max", 1L << 31), "dynamic_user_max", "from dynamic_user_min"),
                Arguments.of(Map.of("default_user", "80001"), "default_user", "per-task uids"),
                Arguments.of(Map.of("default_user", "1000:89999"), "default_user", "per-task uids"),
                Arguments.of(Map.of("isolate_tasks", "yes"), "isolate_tasks", "expected true"),
                Arguments.of(Map.of("isolate_tasks", 1L), "isolate_tasks", "expected true"),
                Arguments.of(Map.of("reconcile_delay", "soon"), "reconcile_delay", "duration"),
                Arguments.of(Map.of("reconcile_interval", "soon"), "reconcile_interval", "at least \"1s\""),
                Arguments.of(Map.of("reconcile_interval", "500ms"), "reconcile_interval", "at least \"1s\""),
                Arguments.of(Map.of("cgroup_parent", "/nomad-mirage"), "cgroup_parent", "relative cgroup path"),
                Arguments.of(Map.of("cgroup_parent", "a/../b"), "cgroup_parent", "relative cgroup path"),
                Arguments.of(Map.of("cgroup_parent", ""), "cgroup_parent", "relative cgroup path"));
    }

    @ParameterizedTest
    @MethodSource("badConfigs")
    void badValuesNameTheFieldTheValueAndWhatIsAllowed(Map<String, Object> raw, String field, String hint) {
        ConfigException e = assertThrows(ConfigException.class, () -> PluginConfigParser.parse(raw));
        assertEquals(field, e.field());
        assertTrue(e.getMessage().startsWith(field + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(hint), e.getMessage());
    }
}
