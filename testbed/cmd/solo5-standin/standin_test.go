package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mftNote builds a manifest note (header, padding, manifest) with the given
// device entries after the reserved one.
func mftNote(devs ...mftEntry) []byte {
	entries := 1 + len(devs)
	b := make([]byte, 24+8+entries*mftEntrySize)
	le.PutUint32(b[0:], 6)
	le.PutUint32(b[4:], uint32(4+8+entries*mftEntrySize))
	le.PutUint32(b[8:], noteTypeMFT1)
	copy(b[12:], "Solo5\x00")
	le.PutUint32(b[24:], 1)
	le.PutUint32(b[28:], uint32(entries))
	all := append([]mftEntry{{typ: mftReservedFirst}}, devs...)
	for i, e := range all {
		o := 32 + i*mftEntrySize
		copy(b[o:], e.name)
		le.PutUint32(b[o+68:], e.typ)
	}
	return b
}

func abiNote(target, version uint32) []byte {
	b := make([]byte, 36)
	le.PutUint32(b[0:], 6)
	le.PutUint32(b[4:], 16)
	le.PutUint32(b[8:], noteTypeABI1)
	copy(b[12:], "Solo5\x00")
	le.PutUint32(b[20:], target)
	le.PutUint32(b[24:], version)
	return b
}

// writeELF writes a minimal Solo5-shaped ELF64: one R+X PT_LOAD page at
// 0x100000 and one PT_NOTE per note.
func writeELF(t *testing.T, notes ...[]byte) string {
	t.Helper()
	nph := 1 + len(notes)
	hdr := make([]byte, 64+nph*56)
	copy(hdr, "\x7fELF\x02\x01\x01")
	le.PutUint16(hdr[16:], 2)
	le.PutUint16(hdr[18:], elfMachine())
	le.PutUint32(hdr[20:], 1)
	le.PutUint64(hdr[24:], 0x100000)
	le.PutUint64(hdr[32:], 64)
	le.PutUint16(hdr[52:], 64)
	le.PutUint16(hdr[54:], 56)
	le.PutUint16(hdr[56:], uint16(nph))
	file := make([]byte, 0x2000)
	ph := hdr[64:]
	le.PutUint32(ph[0:], ptLoad)
	le.PutUint32(ph[4:], pfR|pfX)
	le.PutUint64(ph[8:], 0x1000)
	le.PutUint64(ph[16:], 0x100000)
	le.PutUint64(ph[32:], 0x10)
	le.PutUint64(ph[40:], 0x10)
	le.PutUint64(ph[48:], 0x1000)
	off := 0x1000 + 0x100
	for i, n := range notes {
		p := ph[(i+1)*56:]
		le.PutUint32(p[0:], ptNote)
		le.PutUint32(p[4:], pfR)
		le.PutUint64(p[8:], uint64(off))
		le.PutUint64(p[32:], uint64(len(n)))
		le.PutUint64(p[40:], uint64(len(n)))
		le.PutUint64(p[48:], 8)
		file = append(file[:off], n...)
		off = (len(file) + 7) &^ 7
		for len(file) < off {
			file = append(file, 0)
		}
	}
	copy(file, hdr)
	path := filepath.Join(t.TempDir(), "kernel")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tryLoad runs loadKernel and reports the exit status it would produce
// (-1: none).
func tryLoad(tn *tender, path string) (img *kernelImage, code int) {
	code = -1
	defer func() {
		if r := recover(); r != nil {
			code = r.(exitError).code
		}
	}()
	return tn.loadKernel(path), code
}

func quietTender(t *testing.T, name string) *tender {
	tn, ok := pickTender(name)
	if !ok {
		t.Fatalf("pickTender(%q) failed", name)
	}
	// Silence warnx output of expected failures.
	null, _ := os.Open(os.DevNull)
	old := os.Stderr
	os.Stderr = null
	t.Cleanup(func() { os.Stderr = old; null.Close() })
	return tn
}

func TestLoadKernel(t *testing.T) {
	openbsd := []byte("\x08\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00OpenBSD\x00\x00\x00\x00\x00")
	net := mftNote(mftEntry{name: "service", typ: mftNetBasic})
	good := writeELF(t, openbsd, abiNote(targetHVT, 2), net)

	img, code := tryLoad(quietTender(t, "solo5-hvt"), good)
	if code != -1 {
		t.Fatalf("hvt: exit %d", code)
	}
	if len(img.mft.entries) != 2 || img.mft.entries[1].name != "service" || img.mft.entries[1].typ != mftNetBasic {
		t.Fatalf("manifest = %+v", img.mft.entries)
	}
	if _, code := tryLoad(quietTender(t, "solo5-spt"), good); code != 1 {
		t.Errorf("spt on hvt kernel: exit %d, want 1", code)
	}
	for name, path := range map[string]string{
		"no abi":      writeELF(t, net),
		"no manifest": writeELF(t, abiNote(targetSPT, 2)),
		"bad version": writeELF(t, abiNote(targetSPT, 1), net),
	} {
		if _, code := tryLoad(quietTender(t, "solo5-spt"), path); code != 1 {
			t.Errorf("%s: exit %d, want 1", name, code)
		}
	}
}

func TestParseManifest(t *testing.T) {
	ok := mftNote(mftEntry{name: "storage", typ: mftBlockBasic})[24:]
	if m, valid := parseManifest(ok); !valid || m.byName("storage", mftBlockBasic) == nil {
		t.Fatalf("valid manifest rejected")
	}
	bad := func(mut func(b []byte) []byte) []byte {
		return mut(append([]byte(nil), ok...))
	}
	cases := map[string][]byte{
		"short":          ok[:4],
		"version":        bad(func(b []byte) []byte { b[0] = 2; return b }),
		"size mismatch":  bad(func(b []byte) []byte { return b[:len(b)-8] }),
		"first not rsvd": bad(func(b []byte) []byte { le.PutUint32(b[8+68:], 1); return b }),
		"first named":    bad(func(b []byte) []byte { b[8] = 'x'; return b }),
		"attached":       bad(func(b []byte) []byte { b[8+104+96] = 1; return b }),
		"unterminated":   bad(func(b []byte) []byte { b[8+104+67] = 'x'; return b }),
		"zero entries":   {1, 0, 0, 0, 0, 0, 0, 0},
	}
	for name, b := range cases {
		if _, valid := parseManifest(b); valid {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestScanners(t *testing.T) {
	if n, r, ok := scanName("service=tap0"); !ok || n != "service" || r != "tap0" {
		t.Errorf("scanName = %q %q %v", n, r, ok)
	}
	for _, s := range []string{"=tap0", "ser-vice=tap0", "service", strings.Repeat("a", 68) + "=x"} {
		if _, _, ok := scanName(s); ok {
			t.Errorf("scanName(%q) accepted", s)
		}
	}
	if mac, ok := scanMAC("02:aB:0:ff:10:01"); !ok || mac != [6]byte{2, 0xab, 0, 0xff, 0x10, 1} {
		t.Errorf("scanMAC = %x %v", mac, ok)
	}
	if _, ok := scanMAC("02:ab:00:ff:10"); ok {
		t.Errorf("scanMAC accepted 5 octets")
	}
	if v, ok := scanInt(" 64MB"); !ok || v != 64 {
		t.Errorf("scanInt = %d %v", v, ok)
	}
	if s, ok := scanString("abcdefghijklmnopqrstuvwxyz", 19); !ok || len(s) != 19 {
		t.Errorf("scanString = %q", s)
	}
}

func TestCmdline(t *testing.T) {
	level, rest := parseSolo5Options("  --solo5:quiet --solo5:debug --ipv4=1.2.3.4/8 --solo5:quiet")
	if level != logDebug || rest != "--ipv4=1.2.3.4/8 --solo5:quiet" {
		t.Errorf("parseSolo5Options = %d %q", level, rest)
	}
	if l, _ := parseSolo5Options("--solo5:quietly"); l != logInfo {
		t.Errorf("--solo5:quietly matched")
	}
	got := splitArgs(`a  "b c" d\ e --x="y z"`)
	want := []string{"a", "b c", "d e", "--x=y z"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitArgs = %q", got)
	}
}

func testIface() *netIface {
	return &netIface{mac: [6]byte{2, 0, 0, 0, 0, 2}, prefix: netip.MustParsePrefix("10.199.0.2/24"),
		print: func(string) {}}
}

var peerMAC = []byte{2, 0, 0, 0, 0, 1}

func TestARP(t *testing.T) {
	n := testIface()
	req := make([]byte, 42)
	copy(req, broadcastMAC[:])
	copy(req[6:], peerMAC)
	be.PutUint16(req[12:], 0x0806)
	a := req[14:]
	be.PutUint16(a[0:], 1)
	be.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	be.PutUint16(a[6:], 1)
	copy(a[8:], peerMAC)
	copy(a[14:], []byte{10, 199, 0, 1})
	copy(a[24:], []byte{10, 199, 0, 2})
	r := n.handleFrame(req)
	if r == nil || be.Uint16(r[20:]) != 2 || !bytes.Equal(r[0:6], peerMAC) || !bytes.Equal(r[22:28], n.mac[:]) ||
		!bytes.Equal(r[28:32], []byte{10, 199, 0, 2}) {
		t.Fatalf("bad ARP reply % x", r)
	}
	copy(a[24:], []byte{10, 199, 0, 3})
	if n.handleFrame(req) != nil {
		t.Errorf("answered ARP for another address")
	}
}

func ipv4Packet(proto byte, payload []byte) []byte {
	f := make([]byte, 34+len(payload))
	copy(f, []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:], peerMAC)
	be.PutUint16(f[12:], 0x0800)
	h := f[14:]
	h[0] = 0x45
	be.PutUint16(h[2:], uint16(20+len(payload)))
	h[8], h[9] = 64, proto
	copy(h[12:], []byte{10, 199, 0, 1})
	copy(h[16:], []byte{10, 199, 0, 2})
	be.PutUint16(h[10:], checksum(h[:20], 0))
	copy(f[34:], payload)
	return f
}

func TestICMPEcho(t *testing.T) {
	icmp := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'}
	be.PutUint16(icmp[2:], checksum(icmp, 0))
	r := testIface().handleFrame(ipv4Packet(1, icmp))
	if r == nil {
		t.Fatal("no reply")
	}
	if checksum(r[14:34], 0) != 0 || checksum(r[34:], 0) != 0 {
		t.Errorf("bad checksums")
	}
	if r[34] != 0 || !bytes.Equal(r[38:], icmp[4:]) || !bytes.Equal(r[30:34], []byte{10, 199, 0, 1}) {
		t.Errorf("bad echo reply % x", r)
	}
}

func TestUDPEcho(t *testing.T) {
	udp := []byte{0x30, 0x39, 0, 7, 0, 13, 0, 0, 'h', 'e', 'l', 'l', 'o'}
	r := testIface().handleFrame(ipv4Packet(17, udp))
	if r == nil {
		t.Fatal("no reply")
	}
	u := r[34:]
	if be.Uint16(u[0:]) != 7 || be.Uint16(u[2:]) != 12345 || string(u[8:]) != "hello" {
		t.Errorf("bad UDP reply % x", u)
	}
	if checksum(u, pseudoHeaderSum([4]byte{10, 199, 0, 2}, [4]byte{10, 199, 0, 1}, 17, len(u))) != 0 {
		t.Errorf("bad UDP checksum")
	}
	be.PutUint16(udp[2:], 9)
	if testIface().handleFrame(ipv4Packet(17, udp)) != nil {
		t.Errorf("answered UDP port 9")
	}
}

func TestUDPReceivePrint(t *testing.T) {
	var out strings.Builder
	n := testIface()
	n.print = func(s string) { out.WriteString(s) }
	udp := []byte{0x30, 0x39, 0, 9, 0, 13, 0, 0, 'h', 'e', 'l', 'l', 'o', 'x', 'x'} // 2 bytes past the UDP length
	if r := n.handleFrame(ipv4Packet(17, udp)); r != nil {
		t.Errorf("answered UDP port 9: % x", r)
	}
	odd := []byte{0xea, 0x60, 0x13, 0x88, 0, 13, 0, 0, 'a', '\n', 'b', '\\', 0xc3}
	n.handleFrame(ipv4Packet(17, odd))
	want := "standin: udp from 10.199.0.1:12345 to 9: hello\n" +
		"standin: udp from 10.199.0.1:60000 to 5000: a\\x0ab\\x5c\\xc3\n"
	if out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
	out.Reset()
	echo := []byte{0x30, 0x39, 0, 7, 0, 9, 0, 0, 'e'}
	if n.handleFrame(ipv4Packet(17, echo)) == nil || out.Len() != 0 {
		t.Errorf("port 7: no echo, or printed %q", out.String())
	}
}

func TestParseSend(t *testing.T) {
	good := map[string]struct{ dst, text string }{
		"192.0.2.9:5000:hello":   {"192.0.2.9:5000", "hello"},
		"10.0.0.1:9:a:b c":       {"10.0.0.1:9", "a:b c"},
		"10.0.0.1:65535:":        {"10.0.0.1:65535", ""},
		"255.255.255.255:1:x y,": {"255.255.255.255:1", "x y,"},
	}
	for val, w := range good {
		dst, text, err := parseSend(val)
		if err != nil || dst.String() != w.dst || text != w.text {
			t.Errorf("parseSend(%q) = %v %q %v", val, dst, text, err)
		}
	}
	for _, val := range []string{"", "10.0.0.1", "10.0.0.1:9", "10.0.0.1:x", ":9:x", "10.0.0.300:9:x",
		"10.0.0:9:x", "::1:9:x", "[::1]:9:x", "host:9:x", "10.0.0.1:0:x", "10.0.0.1:65536:x",
		"10.0.0.1:-1:x", "10.0.0.1:+9:x", "10.0.0.1: 9:x", "10.0.0.1::x"} {
		if dst, text, err := parseSend(val); err == nil {
			t.Errorf("parseSend(%q) accepted: %v %q", val, dst, text)
		}
	}
}

// fakeTap attaches n to one end of a SOCK_SEQPACKET pair (one frame per
// message, like a tap), serves it, and returns the other end: the "host".
func fakeTap(t *testing.T, n *netIface) *os.File {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.SetNonblock(fds[0], true)
	syscall.SetNonblock(fds[1], true)
	n.file = os.NewFile(uintptr(fds[0]), "fake-tap")
	n.fatal = func(err error) { t.Errorf("write to fake tap: %v", err) }
	host := os.NewFile(uintptr(fds[1]), "fake-tap-host")
	t.Cleanup(func() { n.file.Close(); host.Close() })
	go n.serve()
	return host
}

// readFrame reads the next frame the guest sent (failing after timeout).
func readFrame(t *testing.T, host *os.File, timeout time.Duration) []byte {
	t.Helper()
	host.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 2048)
	k, err := host.Read(buf)
	if err != nil {
		t.Fatalf("no frame from the guest: %v", err)
	}
	return buf[:k]
}

// checkARPRequest checks f is a broadcast "who has ip tell 10.199.0.2" from n.
func checkARPRequest(t *testing.T, n *netIface, f []byte, ip []byte) {
	t.Helper()
	if len(f) != 42 || !bytes.Equal(f[0:6], broadcastMAC[:]) || !bytes.Equal(f[6:12], n.mac[:]) ||
		be.Uint16(f[12:]) != 0x0806 || be.Uint16(f[14:]) != 1 || be.Uint16(f[16:]) != 0x0800 ||
		f[18] != 6 || f[19] != 4 || be.Uint16(f[20:]) != 1 || !bytes.Equal(f[22:28], n.mac[:]) ||
		!bytes.Equal(f[28:32], []byte{10, 199, 0, 2}) || !bytes.Equal(f[38:42], ip) {
		t.Fatalf("not an ARP request for %v: % x", ip, f)
	}
}

func arpReply(n *netIface, ip []byte, mac []byte) []byte {
	r := make([]byte, 42)
	copy(r[0:], n.mac[:])
	copy(r[6:], mac)
	be.PutUint16(r[12:], 0x0806)
	a := r[14:]
	be.PutUint16(a[0:], 1)
	be.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	be.PutUint16(a[6:], 2)
	copy(a[8:], mac)
	copy(a[14:], ip)
	copy(a[18:], n.mac[:])
	copy(a[24:], []byte{10, 199, 0, 2})
	return r
}

// checkUDP checks f is our datagram to dstMAC, dst:dport from sport.
func checkUDP(t *testing.T, n *netIface, f []byte, dstMAC []byte, dst []byte, sport, dport uint16, text string) {
	t.Helper()
	if len(f) < 42 || !bytes.Equal(f[0:6], dstMAC) || !bytes.Equal(f[6:12], n.mac[:]) || be.Uint16(f[12:]) != 0x0800 {
		t.Fatalf("not an IPv4 frame to % x: % x", dstMAC, f)
	}
	h := f[14:34]
	if h[0] != 0x45 || h[9] != 17 || int(be.Uint16(h[2:])) != len(f)-14 || checksum(h, 0) != 0 ||
		!bytes.Equal(h[12:16], []byte{10, 199, 0, 2}) || !bytes.Equal(h[16:20], dst) {
		t.Fatalf("bad IPv4 header % x", h)
	}
	u := f[34:]
	var d [4]byte
	copy(d[:], dst)
	if be.Uint16(u[0:]) != sport || be.Uint16(u[2:]) != dport || int(be.Uint16(u[4:])) != len(u) ||
		string(u[8:]) != text || checksum(u, pseudoHeaderSum([4]byte{10, 199, 0, 2}, d, 17, len(u))) != 0 {
		t.Fatalf("bad UDP datagram % x", u)
	}
}

// captureStdout collects what console writes until the returned function is
// called.
func captureStdout(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	restored := false
	restore := func() string {
		if restored {
			return ""
		}
		restored = true
		os.Stdout = old
		w.Close()
		return <-done
	}
	t.Cleanup(func() { restore() })
	return restore
}

func TestSendViaGateway(t *testing.T) {
	n := testIface()
	n.name, n.mtu = "service", 1500
	host := fakeTap(t, n)
	g := &guest{nets: []*netIface{n}, gateway: netip.MustParseAddr("10.199.0.1")}
	out := captureStdout(t)

	res := make(chan error, 1)
	go func() { res <- g.send(netip.MustParseAddrPort("192.0.2.9:5000"), "hi there") }()
	gw := []byte{10, 199, 0, 1}
	first := readFrame(t, host, 2*time.Second)
	checkARPRequest(t, n, first, gw)
	// Left unanswered: the request is repeated after about 200 ms.
	start := time.Now()
	checkARPRequest(t, n, readFrame(t, host, 2*time.Second), gw)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("ARP request repeated after %v, want about %v", d, arpInterval)
	}
	host.Write(arpReply(n, gw, peerMAC))
	checkUDP(t, n, readFrame(t, host, 2*time.Second), peerMAC, []byte{192, 0, 2, 9}, 40000, 5000, "hi there")
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	// The gateway's MAC is cached: the next send goes out at once.
	go func() { res <- g.send(netip.MustParseAddrPort("198.51.100.1:53"), "again") }()
	checkUDP(t, n, readFrame(t, host, 2*time.Second), peerMAC, []byte{198, 51, 100, 1}, 40001, 53, "again")
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if got, want := out(), "standin: sent hi there to 192.0.2.9:5000\nstandin: sent again to 198.51.100.1:53\n"; got != want {
		t.Errorf("console %q, want %q", got, want)
	}
}

func TestSendSameSubnet(t *testing.T) {
	n := testIface()
	n.name, n.mtu = "service", 1500
	host := fakeTap(t, n)
	// The gateway is not used for an address on the device's subnet.
	g := &guest{nets: []*netIface{n}, gateway: netip.MustParseAddr("10.199.0.1")}
	out := captureStdout(t)

	res := make(chan error, 1)
	go func() { res <- g.send(netip.MustParseAddrPort("10.199.0.77:9999"), "near") }()
	peer := []byte{10, 199, 0, 77}
	peerMAC2 := []byte{2, 0, 0, 0, 0, 77}
	checkARPRequest(t, n, readFrame(t, host, 2*time.Second), peer)
	// A reply for another address does not resolve this one.
	host.Write(arpReply(n, []byte{10, 199, 0, 1}, peerMAC))
	checkARPRequest(t, n, readFrame(t, host, 2*time.Second), peer)
	host.Write(arpReply(n, peer, peerMAC2))
	checkUDP(t, n, readFrame(t, host, 2*time.Second), peerMAC2, peer, 40000, 9999, "near")
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if got := out(); got != "standin: sent near to 10.199.0.77:9999\n" {
		t.Errorf("console %q", got)
	}
}

func TestSendNoARPReply(t *testing.T) {
	oldInterval, oldAttempts := arpInterval, arpAttempts
	arpInterval, arpAttempts = 20*time.Millisecond, 3
	t.Cleanup(func() { arpInterval, arpAttempts = oldInterval, oldAttempts })
	n := testIface()
	n.name, n.mtu = "service", 1500
	host := fakeTap(t, n)
	g := &guest{nets: []*netIface{n}, gateway: netip.MustParseAddr("10.199.0.1")}

	res := make(chan error, 1)
	go func() { res <- g.send(netip.MustParseAddrPort("192.0.2.9:5000"), "lost") }()
	for i := 0; i < 3; i++ {
		checkARPRequest(t, n, readFrame(t, host, 2*time.Second), []byte{10, 199, 0, 1})
	}
	err := <-res
	if err == nil || !strings.Contains(err.Error(), "via gateway 10.199.0.1: no ARP reply from 10.199.0.1 on service") {
		t.Fatalf("error %v", err)
	}
	host.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if k, err := host.Read(make([]byte, 2048)); err == nil {
		t.Errorf("sent a frame after giving up: %d bytes", k)
	}
}

func TestSendRouteErrors(t *testing.T) {
	n := testIface()
	n.mtu = 100
	g := &guest{nets: []*netIface{n}}
	for dst, want := range map[string]string{
		"192.0.2.9:5000":  "no --ipv4-gateway",
		"10.199.0.2:5000": "is the address of",
	} {
		if err := g.send(netip.MustParseAddrPort(dst), "x"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("send to %s: %v, want %q", dst, err, want)
		}
	}
	g.gateway = netip.MustParseAddr("10.1.0.1")
	if err := g.send(netip.MustParseAddrPort("192.0.2.9:5000"), "x"); err == nil ||
		!strings.Contains(err.Error(), "not in a device's subnet") {
		t.Errorf("gateway off-subnet: %v", err)
	}
	if err := g.send(netip.MustParseAddrPort("10.199.0.9:5000"), strings.Repeat("x", 73)); err == nil ||
		!strings.Contains(err.Error(), "MTU") {
		t.Errorf("oversized datagram: %v", err)
	}
}

// TestRunAppSend runs --standin-send steps through the application: a
// datagram sent and reported, then the errors reported as application errors.
func TestRunAppSend(t *testing.T) {
	oldInterval, oldAttempts := arpInterval, arpAttempts
	arpInterval, arpAttempts = 20*time.Millisecond, 2
	t.Cleanup(func() { arpInterval, arpAttempts = oldInterval, oldAttempts })

	run := func(host func(*os.File), args ...string) (int, string) {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		syscall.SetNonblock(fds[0], true)
		syscall.SetNonblock(fds[1], true)
		guestEnd := os.NewFile(uintptr(fds[0]), "fake-tap")
		hostEnd := os.NewFile(uintptr(fds[1]), "fake-tap-host")
		defer guestEnd.Close()
		defer hostEnd.Close()
		mft := &manifest{entries: []mftEntry{{typ: mftReservedFirst},
			{name: "service", typ: mftNetBasic, attached: true, file: guestEnd, mac: [6]byte{2, 0, 0, 0, 0, 2}, mtu: 1500}}}
		g := &guest{t: quietTender(t, "solo5-hvt"), img: &kernelImage{mft: mft}, logLevel: logInfo}
		if host != nil {
			go host(hostEnd)
		}
		out := captureStdout(t)
		code := g.runApp(args)
		return code, out()
	}
	answer := func(h *os.File) {
		buf := make([]byte, 2048)
		for {
			h.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, err := h.Read(buf)
			if err != nil {
				return
			}
			if k == 42 && be.Uint16(buf[12:]) == 0x0806 {
				n := &netIface{mac: [6]byte{2, 0, 0, 0, 0, 2}}
				h.Write(arpReply(n, buf[38:42], peerMAC))
			}
		}
	}
	net := []string{"--ipv4=10.199.0.2/24", "--ipv4-gateway=10.199.0.1"}

	code, out := run(answer, append(net, "--standin-send=192.0.2.9:5000:one", "--standin-print=between",
		`--standin-send=10.199.0.5:6000:two words`)...)
	if code != 0 || !strings.Contains(out, "standin: sent one to 192.0.2.9:5000\nbetween\nstandin: sent two words to 10.199.0.5:6000\n") ||
		!strings.HasSuffix(out, "Solo5: solo5_exit(0) called\n") {
		t.Errorf("exit %d, console:\n%s", code, out)
	}

	code, out = run(nil, append(net, "--standin-send=192.0.2.9:5000:lost", "--standin-print=not reached")...)
	if code != 1 || !strings.Contains(out, "standin: error: --standin-send=192.0.2.9:5000:lost: via gateway 10.199.0.1: no ARP reply from 10.199.0.1 on service") ||
		strings.Contains(out, "not reached") {
		t.Errorf("no ARP reply: exit %d, console:\n%s", code, out)
	}

	for _, bad := range []string{"--standin-send", "--standin-send=", "--standin-send=192.0.2.9:x:y", "--standin-send=192.0.2.9"} {
		code, out = run(nil, append(net, bad)...)
		if code != 1 || !strings.Contains(out, "standin: error: invalid value in "+bad+": ") {
			t.Errorf("%s: exit %d, console:\n%s", bad, code, out)
		}
	}
}

// TestLinkFlags: the getifaddrs-shaped lookup finds lo (up, loopback) with the
// flags the kernel reports and no link under a name nobody uses.
func TestLinkFlags(t *testing.T) {
	flags, found, err := linkFlags("lo")
	if err != nil || !found {
		t.Fatalf("lo: found %v, err %v", found, err)
	}
	if flags&syscall.IFF_LOOPBACK == 0 || flags&syscall.IFF_UP == 0 {
		t.Fatalf("lo flags %#x: want IFF_LOOPBACK and IFF_UP", flags)
	}
	if _, found, err := linkFlags("no-such-link0"); err != nil || found {
		t.Fatalf("no-such-link0: found %v, err %v", found, err)
	}
}
