package nomadmirage.goplugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HostEnvironmentTest {
    private static final HandshakeConfig HANDSHAKE = new HandshakeConfig("COOKIE_KEY", "cookie-value", 2);

    private static Map<String, String> env(String... kv) {
        Map<String, String> env = new HashMap<>();
        env.put("COOKIE_KEY", "cookie-value");
        for (int i = 0; i < kv.length; i += 2) {
            env.put(kv[i], kv[i + 1]);
        }
        return env;
    }

    @Test
    void missingCookieIsAHumanMessage() {
        HandshakeException e = assertThrows(HandshakeException.class,
                () -> HostEnvironment.from(Map.of(), HANDSHAKE));
        assertTrue(e.getMessage().contains("not meant to be run directly"), e.getMessage());
        assertTrue(e.getMessage().contains("COOKIE_KEY"), e.getMessage());
    }

    @Test
    void wrongCookieIsRejected() {
        assertThrows(HandshakeException.class,
                () -> HostEnvironment.from(Map.of("COOKIE_KEY", "other"), HANDSHAKE));
    }

    @Test
    void negotiatesOurVersionFromTheOfferedList() throws Exception {
        assertEquals(2, HostEnvironment.from(env("PLUGIN_PROTOCOL_VERSIONS", "1, 2,3"), HANDSHAKE).negotiatedVersion());
        assertEquals(2, HostEnvironment.from(env(), HANDSHAKE).negotiatedVersion());
    }

    @Test
    void noCommonVersionNamesBothSides() {
        HandshakeException e = assertThrows(HandshakeException.class,
                () -> HostEnvironment.from(env("PLUGIN_PROTOCOL_VERSIONS", "1,3"), HANDSHAKE));
        assertTrue(e.getMessage().contains("1, 3") && e.getMessage().contains("version 2"), e.getMessage());
    }

    @Test
    void readsTheSocketDirectoryAndIgnoresTheTcpPortRange() throws Exception {
        HostEnvironment host = HostEnvironment.from(env("PLUGIN_UNIX_SOCKET_DIR", "/run/x",
                "PLUGIN_MIN_PORT", "abc", "PLUGIN_MAX_PORT", "10"), HANDSHAKE);
        assertEquals(Path.of("/run/x"), host.unixSocketDir());
        assertNull(host.unixSocketGroup());
        assertEquals(Path.of("/var/tmp"), HostEnvironment.from(env("TMPDIR", "/var/tmp"), HANDSHAKE).unixSocketDir());
    }

    @Test
    void autoMtlsIsRefusedClearly() {
        HandshakeException e = assertThrows(HandshakeException.class,
                () -> HostEnvironment.from(env("PLUGIN_CLIENT_CERT", "-----BEGIN"), HANDSHAKE));
        assertTrue(e.getMessage().contains("mTLS"), e.getMessage());
    }

    @Test
    void handshakeLineHasSixFieldsWithAnEmptyCertificate() {
        assertEquals("1|2|unix|/tmp/p/plugin.sock|grpc|", ListenAddress.unix("/tmp/p/plugin.sock").handshakeLine(2));
    }
}
