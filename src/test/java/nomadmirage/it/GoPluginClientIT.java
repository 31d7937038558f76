package nomadmirage.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import nomadmirage.testing.Probe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The plugin driven by the real hashicorp/go-plugin client and Nomad's own
 * base/driver client packages (the Go plugin-probe), exactly as Nomad's
 * plugin loader launches it.
 */
class GoPluginClientIT {
    @TempDir
    Path tmp;

    private String goodConfig(Object... extra) {
        Object[] base = {"state_dir", tmp.resolve("state").toString(), "log_level", "debug"};
        Object[] all = Stream.concat(Stream.of(base), Stream.of(extra)).toArray();
        return Probe.config(all);
    }

    @Test
    void handshakeHealthAndPluginInfo() throws Exception {
        JsonNode info = Probe.run("info");
        assertEquals(2, info.get("negotiated_version").intValue());
        assertEquals("grpc", info.at("/reattach/protocol").textValue());
        assertEquals("unix", info.at("/reattach/network").textValue());
        assertTrue(info.get("ping_error").isNull(), "health check of service \"plugin\" failed: " + info);
        assertEquals("driver", info.get("type").textValue());
        assertEquals("mirage", info.get("name").textValue());
        assertEquals(List.of("v0.1.0"), List.of(info.get("plugin_api_versions").get(0).textValue()));
        assertEquals("v0.1.0", info.get("selected_api_version").textValue());
        assertTrue(info.get("plugin_version_error").isNull(), info.toString());
        assertEquals(System.getProperty("mirage.version", "0.1.0"), info.get("plugin_version").textValue());
        assertFalse(info.at("/teardown/force_killed").booleanValue(), "Kill() had to SIGKILL the plugin");
    }

    @Test
    void configSchemaConvertsWithNomadsHclspecAndCarriesDefaults() throws Exception {
        JsonNode schema = Probe.run("schema");
        assertTrue(schema.get("convert_error").isNull(), schema.toString());
        JsonNode attrs = schema.at("/spec/object/attributes");
        for (String key : List.of("solo5_hvt", "solo5_spt", "qemu", "bridge", "subnet", "state_dir", "image_paths",
                "log_level", "fingerprint_period", "qemu_allowed_args", "max_block_size", "allowed_users", "isolate_tasks")) {
            assertTrue(attrs.has(key), "schema lacks " + key + ": " + attrs);
        }
        assertEquals("\"mirage0\"", attrs.at("/bridge/default/default/literal/value").textValue());
    }

    @Test
    void setConfigAcceptsAGoodConfigTwiceAndNomadFillsTheDefaults() throws Exception {
        JsonNode result = Probe.run("setconfig", "-config-json",
                goodConfig("subnet", "10.42.0.0/24", "image_paths", List.of("/srv/images")));
        assertTrue(result.get("decode_error").isNull(), result.toString());
        assertTrue(result.at("/setconfig_errors/0").isNull(), result.toString());
        assertTrue(result.at("/setconfig_errors/1").isNull(), result.toString());
        assertEquals("mirage0", result.at("/config_value/bridge").textValue());
        assertEquals("10.42.0.0/24", result.at("/config_value/subnet").textValue());
    }

    @Test
    void theJobLimitsGoThroughNomadsOwnHclspecDecoding() throws Exception {
        JsonNode result = Probe.run("setconfig", "-config-json", goodConfig(
                "qemu_allowed_args", Map.of("-smp", "^[0-9]{1,3}$", "-no-hpet", ""),
                "max_block_size", "1GiB", "allowed_users", List.of("nobody", "1000")));
        assertTrue(result.get("decode_error").isNull(), result.toString());
        assertTrue(result.at("/setconfig_errors/0").isNull(), result.toString());
        assertEquals("^[0-9]{1,3}$", result.at("/config_value/qemu_allowed_args/-smp").textValue(), result.toString());
        assertEquals("", result.at("/config_value/qemu_allowed_args/-no-hpet").textValue(), result.toString());
        assertEquals("1GiB", result.at("/config_value/max_block_size").textValue());

        JsonNode defaults = Probe.run("setconfig", "-config-json", goodConfig());
        assertTrue(defaults.at("/setconfig_errors/0").isNull(), defaults.toString());
        assertEquals("16GiB", defaults.at("/config_value/max_block_size").textValue());
        assertEquals(0, defaults.at("/config_value/qemu_allowed_args").size(), defaults.toString());

        // The list form of earlier versions is refused by Nomad's decoder, naming the key.
        JsonNode oldShape = Probe.run("setconfig", "-config-json", Probe.config("qemu_allowed_args", List.of("-smp")));
        String error = oldShape.get("decode_error").textValue();
        assertTrue(error != null && error.contains("qemu_allowed_args"), oldShape.toString());
    }

    @Test
    void setConfigWithoutAgentPortsAsInNomadsValidationProcess() throws Exception {
        JsonNode result = Probe.run("setconfig", "-first-agent-config", "nil", "-config-json", goodConfig());
        assertTrue(result.at("/setconfig_errors/0").isNull(), result.toString());
        assertTrue(result.at("/setconfig_errors/1").isNull(), result.toString());
    }

    static Stream<Arguments> badConfigs() {
        return Stream.of(
                Arguments.of(Map.of("bridge", "a-bridge-name-too-long"), "bridge"),
                Arguments.of(Map.of("subnet", "10.99.0.1/16"), "subnet"),
                Arguments.of(Map.of("subnet", "not-a-cidr"), "subnet"),
                Arguments.of(Map.of("state_dir", "var/lib/x"), "state_dir"),
                Arguments.of(Map.of("image_paths", List.of("relative")), "image_paths[0]"),
                Arguments.of(Map.of("log_level", "loud"), "log_level"),
                Arguments.of(Map.of("fingerprint_period", "fast"), "fingerprint_period"),
                Arguments.of(Map.of("solo5_hvt", "bin/solo5-hvt"), "solo5_hvt"),
                Arguments.of(Map.of("default_user", "root"), "default_user"),
                Arguments.of(Map.of("qemu_allowed_args", Map.of("-smp", "[0-9")), "qemu_allowed_args[\"-smp\"]"),
                Arguments.of(Map.of("max_block_size", "2TiB"), "max_block_size"),
                Arguments.of(Map.of("allowed_users", List.of("x y")), "allowed_users[0]"));
    }

    @ParameterizedTest
    @MethodSource("badConfigs")
    void setConfigRejectsBadValuesNamingTheField(Map<String, Object> bad, String field) throws Exception {
        Object[] kv = bad.entrySet().stream().flatMap(e -> Stream.of(e.getKey(), e.getValue())).toArray();
        JsonNode result = Probe.run("setconfig", "-config-json", Probe.config(kv));
        assertTrue(result.get("decode_error").isNull(), result.toString());
        for (int call = 0; call < 2; call++) {
            String error = result.at("/setconfig_errors/" + call).textValue();
            assertTrue(error != null && error.contains("InvalidArgument") && error.contains(field + ": "),
                    "call " + call + ": " + result);
        }
    }

    @Test
    void aValueOfTheWrongTypeIsCaughtByNomadsDecoderAgainstOurSchema() throws Exception {
        JsonNode result = Probe.run("setconfig", "-config-json", Probe.config("image_paths", "/not/a/list"));
        String error = result.get("decode_error").textValue();
        assertTrue(error != null && error.contains("image_paths"), result.toString());
    }

    @Test
    void fingerprintStreamAnswersAtOnceWithAttributesCapabilitiesAndTaskSchema() throws Exception {
        JsonNode result = Probe.run("fingerprint", "-config-json", goodConfig());
        assertTrue(result.get("fingerprint_error").isNull(), result.toString());
        JsonNode first = result.at("/messages/0");
        assertFalse(first.isMissingNode(), "no fingerprint arrived: " + result);
        assertEquals("healthy", first.get("health").textValue(), first.toString());
        JsonNode attrs = first.get("attributes");
        assertTrue(attrs.get("driver.mirage.qemu.path").textValue().endsWith("qemu-system-x86_64"), attrs.toString());
        assertTrue(attrs.get("driver.mirage.qemu.version").textValue().matches("\\d+\\.\\d+.*"), attrs.toString());
        assertTrue(attrs.get("driver.mirage.targets").textValue().contains("virtio"), attrs.toString());
        assertTrue(attrs.has("driver.mirage.kvm"), attrs.toString());
        assertEquals("mirage0", attrs.get("driver.mirage.bridge").textValue());
        assertTrue(Files.isDirectory(tmp.resolve("state")), "state_dir was not prepared");
        nomadmirage.cgroup.CgroupLayout cgroups = nomadmirage.cgroup.CgroupLayout.detect();
        assertEquals(cgroups.version().attribute(), attrs.get("driver.mirage.cgroup").textValue(), attrs.toString());
        if (cgroups.version() == nomadmirage.cgroup.CgroupVersion.V1 && cgroups.missing().isEmpty()) {
            assertEquals("cpu,memory,pids,cpuset", attrs.get("driver.mirage.cgroup.enforced").textValue());
        }

        JsonNode caps = result.get("capabilities");
        assertTrue(caps.get("send_signals").booleanValue());
        assertFalse(caps.get("exec").booleanValue());
        assertEquals("none", caps.get("fs_isolation").textValue());
        assertEquals("[\"host\",\"group\"]", caps.get("net_isolation_modes").toString(),
                "host networking and Nomad's group (bridge) mode, through Nomad's own client");
        assertFalse(caps.get("must_initiate_network").booleanValue(), "Nomad makes the group's namespace");
        assertTrue(result.at("/task_config_schema/convert_error").isNull(), result.toString());
        assertFalse(result.get("stream_closed").booleanValue(), "the fingerprint stream must stay open");
    }

    @Test
    void noTenderMeansUndetectedWithAnActionableDescription() throws Exception {
        JsonNode result = Probe.run("fingerprint", "-config-json", goodConfig(
                "qemu", "/nonexistent/qemu", "solo5_hvt", "/nonexistent/hvt", "solo5_spt", "/nonexistent/spt"));
        JsonNode first = result.at("/messages/0");
        assertEquals("undetected", first.get("health").textValue(), first.toString());
        assertTrue(first.get("health_description").textValue().contains("/nonexistent/qemu"), first.toString());
    }

    @Test
    void fingerprintFollowsTheHostWhenATenderAppears() throws Exception {
        Path tender = tmp.resolve("qemu-system-x86_64");
        AtomicBoolean installed = new AtomicBoolean();
        JsonNode result = Probe.run("fingerprint", line -> {
            // Install the "tender" once the first (undetected) fingerprint went out.
            if (line.contains("fingerprint stream opened") && installed.compareAndSet(false, true)) {
                try {
                    Files.writeString(tender, "#!/bin/sh\necho 'QEMU emulator version 9.9.9'\n");
                    Files.setPosixFilePermissions(tender, PosixFilePermissions.fromString("rwxr-xr-x"));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        }, "-count", "2", "-timeout", "60s", "-config-json", goodConfig("fingerprint_period", "1s",
                "qemu", tender.toString(), "solo5_hvt", "/nonexistent/hvt", "solo5_spt", "/nonexistent/spt"));
        assertTrue(installed.get(), "the plugin never logged that the stream opened: " + result);
        assertEquals("undetected", result.at("/messages/0/health").textValue(), result.toString());
        assertEquals("healthy", result.at("/messages/1/health").textValue(), result.toString());
        assertEquals("9.9.9", result.at("/messages/1/attributes/driver.mirage.qemu.version").textValue());
    }

    @Test
    void controllerShutdownStopsThePluginWithoutAForcedKill() throws Exception {
        JsonNode result = Probe.run("shutdown", "-config-json", goodConfig());
        assertTrue(result.get("shutdown_error").isNull(), result.toString());
        assertTrue(result.get("exited").booleanValue(), result.toString());
        assertFalse(result.get("force_killed").booleanValue(), result.toString());
    }
}
