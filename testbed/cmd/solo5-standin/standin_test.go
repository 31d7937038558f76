package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	return &netIface{mac: [6]byte{2, 0, 0, 0, 0, 2}, prefix: netip.MustParsePrefix("10.199.0.2/24")}
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
