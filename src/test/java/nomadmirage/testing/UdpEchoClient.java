package nomadmirage.testing;

import java.time.Duration;

/**
 * A {@code python3} UDP echo client for a namespace's exec: sends the payload every 500 ms until a reply comes
 * (written to stdout, exit 0) or {@code reach} has passed (a line on stderr, exit 1).
 */
public final class UdpEchoClient {
    private static final String SCRIPT = """
            import socket, sys, time
            host, port, payload, deadline = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), time.monotonic() + float(sys.argv[4])
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.5)
            while True:
                s.sendto(payload, (host, port))
                try:
                    data, peer = s.recvfrom(2048)
                    sys.stdout.write(data.decode())
                    sys.exit(0)
                except socket.timeout:
                    if time.monotonic() > deadline:
                        sys.stderr.write("no reply from %s:%d\\n" % (host, port))
                        sys.exit(1)
            """;

    private UdpEchoClient() {
    }

    /** The whole command line: {@code python3 -c SCRIPT HOST PORT PAYLOAD SECONDS}. */
    public static String[] argv(String host, int port, String payload, Duration reach) {
        return new String[] {"python3", "-c", SCRIPT, host, Integer.toString(port), payload,
                Long.toString(reach.toSeconds())};
    }
}
