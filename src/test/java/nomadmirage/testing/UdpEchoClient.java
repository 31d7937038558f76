package nomadmirage.testing;

import java.time.Duration;

/**
 * A {@code python3} UDP echo client for a namespace's exec: sends the payload every 500 ms until a reply comes
 * (written to stdout, exit 0) or {@code reach} has passed (a line on stderr, exit 1). With
 * {@link #argvReplyFromTarget}, a reply from any other address and port than the target's is a failure
 * (a line on stderr, exit 2).
 */
public final class UdpEchoClient {
    private static final String SCRIPT = """
            import socket, sys, time
            host, port, payload, deadline = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), time.monotonic() + float(sys.argv[4])
            from_target = sys.argv[5] == "from-target"
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.5)
            while True:
                s.sendto(payload, (host, port))
                try:
                    data, peer = s.recvfrom(2048)
                    if from_target and peer != (host, port):
                        sys.stderr.write("reply from %s:%d, not %s:%d\\n" % (peer + (host, port)))
                        sys.exit(2)
                    sys.stdout.write(data.decode())
                    sys.exit(0)
                except socket.timeout:
                    if time.monotonic() > deadline:
                        sys.stderr.write("no reply from %s:%d\\n" % (host, port))
                        sys.exit(1)
            """;

    private UdpEchoClient() {
    }

    /** The whole command line: {@code python3 -c SCRIPT HOST PORT PAYLOAD SECONDS any}. */
    public static String[] argv(String host, int port, String payload, Duration reach) {
        return command(host, port, payload, reach, "any");
    }

    /** As {@link #argv}, but the reply must come from HOST:PORT itself. */
    public static String[] argvReplyFromTarget(String host, int port, String payload, Duration reach) {
        return command(host, port, payload, reach, "from-target");
    }

    private static String[] command(String host, int port, String payload, Duration reach, String replies) {
        return new String[] {"python3", "-c", SCRIPT, host, Integer.toString(port), payload,
                Long.toString(reach.toSeconds()), replies};
    }
}
