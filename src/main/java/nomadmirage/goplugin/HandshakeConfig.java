package nomadmirage.goplugin;

/**
 * What the host application and this plugin agree on before any gRPC: the
 * magic cookie go-plugin puts in our environment, and the application protocol
 * version we speak.
 */
public record HandshakeConfig(String cookieKey, String cookieValue, int appProtocolVersion) {
    /** go-plugin's own wire protocol ("core") version; always 1. */
    public static final int CORE_PROTOCOL_VERSION = 1;
}
