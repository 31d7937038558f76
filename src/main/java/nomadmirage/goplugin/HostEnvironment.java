package nomadmirage.goplugin;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The go-plugin host's instructions, read from our environment: the magic
 * cookie, the protocol versions it accepts, where and how to listen. (The TCP
 * port range, PLUGIN_MIN_PORT/PLUGIN_MAX_PORT, is ignored: the plugin serves
 * on a unix socket only.)
 */
public record HostEnvironment(int negotiatedVersion, Path unixSocketDir, String unixSocketGroup) {

    static final String PROTOCOL_VERSIONS = "PLUGIN_PROTOCOL_VERSIONS";
    static final String UNIX_SOCKET_DIR = "PLUGIN_UNIX_SOCKET_DIR";
    static final String UNIX_SOCKET_GROUP = "PLUGIN_UNIX_SOCKET_GROUP";
    static final String CLIENT_CERT = "PLUGIN_CLIENT_CERT";

    /** Validates the environment against our handshake; throws with a message for a human. */
    public static HostEnvironment from(Map<String, String> env, HandshakeConfig handshake) throws HandshakeException {
        String cookie = env.get(handshake.cookieKey());
        if (cookie == null || !cookie.equals(handshake.cookieValue())) {
            throw HandshakeException.runDirectly("""
                    This binary is a plugin for HashiCorp Nomad (go-plugin protocol) and is not meant \
                    to be run directly. Put it in the Nomad agent's plugin_dir and reference it in a \
                    plugin block of the agent configuration; Nomad starts it with the environment \
                    variable %s set.""".formatted(handshake.cookieKey()));
        }
        if (env.get(CLIENT_CERT) != null && !env.get(CLIENT_CERT).isEmpty()) {
            throw new HandshakeException("the host asked for automatic mTLS (" + CLIENT_CERT
                    + " is set), which this plugin does not support; Nomad does not use it");
        }
        int version = negotiate(env.get(PROTOCOL_VERSIONS), handshake.appProtocolVersion());
        String dir = env.get(UNIX_SOCKET_DIR);
        Path socketDir = dir == null || dir.isEmpty()
                ? Path.of(env.getOrDefault("TMPDIR", "/tmp").isEmpty() ? "/tmp" : env.getOrDefault("TMPDIR", "/tmp"))
                : Path.of(dir);
        String group = env.get(UNIX_SOCKET_GROUP);
        return new HostEnvironment(version, socketDir, group == null || group.isEmpty() ? null : group);
    }

    private static int negotiate(String offered, int ours) throws HandshakeException {
        if (offered == null || offered.isBlank()) {
            return ours;
        }
        List<String> rejected = new ArrayList<>();
        for (String part : offered.split(",")) {
            String candidate = part.trim();
            if (candidate.equals(Integer.toString(ours))) {
                return ours;
            }
            rejected.add(candidate);
        }
        throw new HandshakeException("the host speaks plugin protocol version(s) " + String.join(", ", rejected)
                + " (" + PROTOCOL_VERSIONS + "), this plugin speaks version " + ours
                + "; upgrade the plugin or the host so that they share a version");
    }
}
