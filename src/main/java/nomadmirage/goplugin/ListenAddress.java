package nomadmirage.goplugin;

/** Where the plugin's gRPC server listens, as written in the handshake line. */
public record ListenAddress(String network, String address) {
    public static ListenAddress unix(String path) {
        return new ListenAddress("unix", path);
    }

    /** The single stdout line go-plugin's host waits for: CORE|APP|NETWORK|ADDR|PROTOCOL|CERT. */
    public String handshakeLine(int appProtocolVersion) {
        return HandshakeConfig.CORE_PROTOCOL_VERSION + "|" + appProtocolVersion + "|" + network + "|" + address + "|grpc|";
    }
}
