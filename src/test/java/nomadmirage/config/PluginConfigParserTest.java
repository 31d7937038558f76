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
                Arguments.of(Map.of("bridgee", "x"), "bridgee", "unknown setting"));
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
