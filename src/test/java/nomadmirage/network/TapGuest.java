package nomadmirage.network;

import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import nomadmirage.testing.Netns;

/**
 * A guest on one of our taps, as a unikernel would be: a python process in the namespace opens the
 * tap (as the tender does), answers ARP for its own address, reports every UDP datagram it receives
 * ({@code udp SRC DST PAYLOAD}) and writes the raw frames the test asks for, forged ones included.
 * Every request is answered once its frame was written, so the test can wait for it.
 */
final class TapGuest {
    private static final String SCRIPT = """
            import fcntl, os, struct, sys, threading
            tap, mac, ip = sys.argv[1], sys.argv[2], sys.argv[3]
            fd = os.open('/dev/net/tun', os.O_RDWR)
            fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', tap.encode(), 0x0002 | 0x1000))  # TUNSETIFF, IFF_TAP|IFF_NO_PI
            def b_mac(m): return bytes.fromhex(m.replace(':', ''))
            def b_ip(a): return bytes(int(x) for x in a.split('.'))
            def s_ip(b): return '.'.join(str(x) for x in b)
            def csum(data):
                s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
                while s >> 16: s = (s & 0xffff) + (s >> 16)
                return ~s & 0xffff
            def udp(smac, dmac, sip, dip, port, payload):
                u = struct.pack('!HHHH', 40000, port, 8 + len(payload), 0) + payload
                h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(u), 0, 0x4000, 64, 17, 0, b_ip(sip), b_ip(dip))
                h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
                return b_mac(dmac) + b_mac(smac) + b'\\x08\\x00' + h + u
            def arp_reply(sha, spa, tha, tpa):
                return (b_mac(tha) + b_mac(sha) + b'\\x08\\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, 2)
                        + b_mac(sha) + b_ip(spa) + b_mac(tha) + b_ip(tpa))
            impersonated = set()
            lock = threading.Lock()
            def say(*words):
                with lock:
                    print(*words, flush=True)
            def read():
                while True:
                    f = os.read(fd, 65536)
                    if f[12:14] == b'\\x08\\x06' and f[20:22] == b'\\x00\\x01':
                        asker = ':'.join('%02x' % x for x in f[22:28])
                        spa, tpa = s_ip(f[28:32]), s_ip(f[38:42])
                        if tpa == ip:
                            os.write(fd, arp_reply(mac, ip, asker, spa))
                        elif tpa in impersonated:
                            os.write(fd, arp_reply(mac, tpa, asker, spa))
                            say('answered-arp', tpa)
                    elif f[12:14] == b'\\x08\\x00' and f[23] == 17:
                        ihl = (f[14] & 15) * 4
                        say('udp', s_ip(f[26:30]), s_ip(f[30:34]), f[14 + ihl + 8:].decode(errors='replace'))
            threading.Thread(target=read, daemon=True).start()
            say('ready')
            for line in sys.stdin:
                w = line.split()
                if w[0] == 'udp':
                    os.write(fd, udp(w[1], w[2], w[3], w[4], int(w[5]), w[6].encode()))
                    say('sent', w[6])
                elif w[0] == 'impersonate':
                    impersonated.add(w[1])
                    say('impersonating', w[1])
            """;

    private final DeviceAttachment device;
    private final Writer in;
    private final ProcessLines out;

    private TapGuest(DeviceAttachment device, Process process) {
        this.device = device;
        this.in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        this.out = new ProcessLines("guest on " + device.tap(), process);
    }

    /** Opens the tap of {@code device} in {@code ns} (whose close ends the process). */
    static TapGuest open(Netns ns, DeviceAttachment device) throws IOException, InterruptedException {
        TapGuest guest = new TapGuest(device, ns.start("python3", "-u", "-c", SCRIPT, device.tap(), device.mac(),
                device.ip()));
        guest.await("ready");
        return guest;
    }

    DeviceAttachment device() {
        return device;
    }

    /** Writes one UDP datagram in a frame with these addresses (forged or not) and waits until it is written. */
    void sendUdp(String srcMac, String dstMac, String srcIp, String dstIp, int port, String payload)
            throws IOException, InterruptedException {
        command("udp " + srcMac + " " + dstMac + " " + srcIp + " " + dstIp + " " + port + " " + payload);
        await("sent " + payload);
    }

    /** A datagram from this guest's own MAC and address to {@code dstIp} through {@code dstMac}. */
    void sendOwnUdp(String dstMac, String dstIp, int port, String payload) throws IOException, InterruptedException {
        sendUdp(device.mac(), dstMac, device.ip(), dstIp, port, payload);
    }

    /** From now on answers ARP requests for {@code ip} with this guest's MAC, as an attacker would. */
    void impersonate(String ip) throws IOException, InterruptedException {
        command("impersonate " + ip);
        await("impersonating " + ip);
    }

    /** Waits for the guest's next line that starts with {@code prefix} (see {@link ProcessLines#await}). */
    String await(String prefix) throws InterruptedException {
        return out.await(prefix);
    }

    private void command(String line) throws IOException {
        in.write(line + "\n");
        in.flush();
    }
}
