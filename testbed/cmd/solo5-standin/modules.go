package main

// The tender "modules" of the TEST STAND-IN: option handlers and setup steps
// mirroring tenders/hvt/hvt_module_*.c, tenders/spt/spt_module_*.c and the
// core modules, in the order the real binaries link them.

import (
	"crypto/rand"
	"os"
	"strconv"
	"strings"
	"syscall"
)

type module struct {
	name  string
	usage string
	// handle returns true when the option was consumed (0 in C).
	handle func(arg string, m *manifest) bool
	setup  func(m *manifest)
}

const (
	netUsage = "--net:NAME=IFACE | @NN (attach tap at IFACE or at fd @NN as network NAME)\n" +
		"  [ --net-mac:NAME=HWADDR ] (set HWADDR for network NAME)"
	blockUsage = "--block:NAME=PATH (attach block device/file at PATH as block storage NAME)\n" +
		"  [ --block-sector-size:NAME=SECTORSIZE ] (set sector size for block device NAME; " +
		"must be a power of two greater than or equal 512)"
	gdbUsage = "--gdb (optional flag for running in a gdb debug session)\n" +
		"  [ --gdb-port=1234 ] (port to use) "
	dumpcoreUsage = "--dumpcore=DIR (enable guest core dump on abort/trap)"
	execHeapUsage = "--x-exec-heap (make the heap executable). WARNING: This option is dangerous " +
		"and not recommended as it makes the heap and stack executable."
)

func (t *tender) buildModules() []module {
	net := module{name: "net", usage: netUsage, handle: t.handleNet, setup: t.setupNet}
	block := module{name: "block", usage: blockUsage, handle: t.handleBlock, setup: t.setupBlock}
	if t.name == "spt" {
		core := module{name: "core", usage: execHeapUsage, handle: t.handleExecHeap}
		return []module{core, net, block}
	}
	mods := []module{{name: "core"}, block, net}
	if t.debug {
		mods = append(mods,
			module{name: "gdb", usage: gdbUsage, handle: t.handleGdb, setup: t.setupGdb},
			module{name: "dumpcore", usage: dumpcoreUsage, handle: t.handleDumpcore, setup: t.setupDumpcore})
	}
	return mods
}

func (t *tender) handleCmdarg(arg string, m *manifest) bool {
	for _, mod := range t.modules {
		if mod.handle != nil && mod.handle(arg, m) {
			return true
		}
	}
	return false
}

func (t *tender) setupModules(m *manifest) {
	for _, mod := range t.modules {
		if mod.setup != nil {
			mod.setup(m)
		}
	}
	fail := false
	for i := range m.entries {
		e := &m.entries[i]
		if e.typ >= mftReservedFirst {
			continue
		}
		if !e.attached {
			t.warnx("Device '%s' of type %s declared but not attached.", e.name, mftTypeString(e.typ))
			fail = true
		}
	}
	if fail {
		t.errx(1, "All declared devices must be attached. See --help for syntax.")
	}
}

// --- net -------------------------------------------------------------------

func (t *tender) handleNet(arg string, m *manifest) bool {
	switch {
	case strings.HasPrefix(arg, "--net:"):
		name, rest, ok := scanName(arg[len("--net:"):])
		if !ok {
			return false
		}
		iface, ok := scanString(rest, 19)
		if !ok {
			return false
		}
		e := m.byName(name, mftNetBasic)
		if e == nil {
			t.warnx("Resource not declared in manifest: '%s'", name)
			return false
		}
		f, mtu, err := tapAttach(iface)
		if err != nil {
			t.warnx("Could not attach interface: %s: %s", iface, strerror(err))
			return false
		}
		e.mtu = mtu
		e.file = f
		e.attached = true
		return true
	case strings.HasPrefix(arg, "--net-mac:"):
		name, rest, ok := scanName(arg[len("--net-mac:"):])
		if !ok {
			return false
		}
		mac, ok := scanMAC(rest)
		if !ok {
			return false
		}
		e := m.byName(name, mftNetBasic)
		if e == nil {
			t.warnx("Resource not declared in manifest: '%s'", name)
			return false
		}
		e.mac = mac
		return true
	}
	return false
}

func (t *tender) setupNet(m *manifest) {
	for i := range m.entries {
		e := &m.entries[i]
		if e.typ != mftNetBasic || !e.attached {
			continue
		}
		if e.mac == ([6]byte{}) {
			if _, err := rand.Read(e.mac[:]); err != nil {
				t.err(1, err, "Could not open /dev/urandom")
			}
			e.mac[0] &= 0xfe
			e.mac[0] |= 0x02
		}
	}
}

// --- block -----------------------------------------------------------------

func (t *tender) handleBlock(arg string, m *manifest) bool {
	switch {
	case strings.HasPrefix(arg, "--block:"):
		name, rest, ok := scanName(arg[len("--block:"):])
		if !ok {
			return false
		}
		path, ok := scanString(rest, 4096)
		if !ok {
			return false
		}
		e := m.byName(name, mftBlockBasic)
		if e == nil {
			t.warnx("Resource not declared in manifest: '%s'", name)
			return false
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.err(1, err, "Could not open block device: %s", path)
		}
		capacity, err := f.Seek(0, 2)
		if err != nil {
			t.err(1, err, "%s: Could not determine capacity", path)
		}
		e.capacity = uint64(capacity)
		e.file = f
		e.attached = true
		return true
	case strings.HasPrefix(arg, "--block-sector-size:"):
		name, rest, ok := scanName(arg[len("--block-sector-size:"):])
		if !ok {
			return false
		}
		v, ok := scanUint(rest)
		if !ok {
			return false
		}
		size := uint16(v) // %hu
		if size < 512 || size&(size-1) != 0 {
			t.warnx("Block size must be a multiple of 2 greater than or equal 512")
			return false
		}
		e := m.byName(name, mftBlockBasic)
		if e == nil {
			t.warnx("Resource not declared in manifest: '%s'", name)
			return false
		}
		e.blockSize = size
		return true
	}
	return false
}

func (t *tender) setupBlock(m *manifest) {
	for i := range m.entries {
		e := &m.entries[i]
		if e.typ != mftBlockBasic || !e.attached {
			continue
		}
		if e.blockSize == 0 {
			e.blockSize = 512
		}
		bs := uint64(e.blockSize)
		if e.capacity&(bs-1) != 0 {
			t.errx(1, "%s: Backing storage size must be block aligned (%d bytes)", e.name, e.blockSize)
		}
		if e.capacity < bs {
			t.errx(1, "%s: Backing storage must be at least 1 block (%d bytes) in size", e.name, e.blockSize)
		}
	}
}

// --- spt core --------------------------------------------------------------

func (t *tender) handleExecHeap(arg string, _ *manifest) bool {
	if strings.HasPrefix(arg, "--x-exec-heap") {
		t.warnx("WARNING: The use of --x-exec-heap is dangerous and not" +
			" recommended as it makes the heap and stack executable.")
		return true
	}
	return false
}

// --- hvt-debug: gdb, dumpcore ----------------------------------------------

func (t *tender) handleGdb(arg string, _ *manifest) bool {
	if arg == "--gdb" {
		t.useGdb = true
		return true
	}
	if strings.HasPrefix(arg, "--gdb-port=") {
		v, ok := scanInt(arg[len("--gdb-port="):])
		if !ok || v < 0 || v > 65535 {
			t.errx(1, "Malformed argument to --gdb-port")
		}
		return true
	}
	return false
}

func (t *tender) setupGdb(*manifest) {
	if t.useGdb {
		t.errx(1, "GDB support not implemented on this backend/architecture (test stand-in)")
	}
}

func (t *tender) handleDumpcore(arg string, _ *manifest) bool {
	if !strings.HasPrefix(arg, "--dumpcore=") {
		return false
	}
	t.dumpcoreDir = arg[len("--dumpcore="):]
	return true
}

func (t *tender) setupDumpcore(*manifest) {
	if t.dumpcoreDir == "" {
		return
	}
	fd, err := syscall.Open(t.dumpcoreDir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.errx(1, "dumpcore: cannot open dir")
	}
	syscall.Close(fd)
	if syscall.Access(t.dumpcoreDir, 2 /* W_OK */) != nil {
		t.errx(1, "dumpcore: dir not writable")
	}
}

// dumpcore writes a placeholder core file on abort, where the real
// solo5-hvt-debug writes the guest memory as an ELF core.
func (t *tender) dumpcore(status int, memSize uint64) {
	if t.dumpcoreDir == "" || status != 255 {
		return
	}
	name := "core.solo5-hvt." + strconv.Itoa(os.Getpid())
	path := t.dumpcoreDir + "/" + name
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.warnx("dumpcore: open(%s): %s", name, strerror(err))
		return
	}
	defer f.Close()
	t.warnx("dumpcore: dumping guest core to: %s/%s", t.dumpcoreDir, name)
	f.Write(coreHeader())
	t.warnx("dumpcore: dumped %d pages of total %d pages", 0, memSize/4096)
}

// coreHeader is a bare ELF64 ET_CORE header (no program headers): enough for
// tools to recognise the file as a core dump of nothing.
func coreHeader() []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	le.PutUint16(h[16:], 4) // ET_CORE
	le.PutUint16(h[18:], elfMachine())
	le.PutUint32(h[20:], 1)
	le.PutUint16(h[52:], 64)
	le.PutUint16(h[54:], 56)
	return h
}

// --- sscanf look-alikes ----------------------------------------------------

// scanName mirrors "%67[A-Za-z0-9]=": 1..67 name characters followed by '='.
func scanName(s string) (name, rest string, ok bool) {
	n := 0
	for n < len(s) && n < mftNameMax && isAlnum(s[n]) {
		n++
	}
	if n == 0 || n >= len(s) || s[n] != '=' {
		return "", "", false
	}
	return s[:n], s[n+1:], true
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// scanString mirrors "%Ns": skip white space, then up to max non-space bytes.
func scanString(s string, max int) (string, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	n := 0
	for n < len(s) && n < max && !isSpace(s[n]) {
		n++
	}
	if n == 0 {
		return "", false
	}
	return s[:n], true
}

// scanInt mirrors "%d"/"%zd": optional white space and sign, then digits;
// trailing text is ignored.
func scanInt(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(s[:n], 10, 64)
	if err != nil {
		v = 1<<63 - 1
	}
	if neg {
		v = -v
	}
	return v, true
}

// scanUint mirrors "%hu" (before the truncation to 16 bits).
func scanUint(s string) (uint64, bool) {
	v, ok := scanInt(s)
	return uint64(v), ok
}

// scanMAC mirrors "%02hhx:%02hhx:%02hhx:%02hhx:%02hhx:%02hhx".
func scanMAC(s string) ([6]byte, bool) {
	var mac [6]byte
	for i := 0; i < 6; i++ {
		if i > 0 {
			if s == "" || s[0] != ':' {
				return mac, false
			}
			s = s[1:]
		}
		n := 0
		for n < len(s) && n < 2 && isHex(s[n]) {
			n++
		}
		if n == 0 {
			return mac, false
		}
		v, _ := strconv.ParseUint(s[:n], 16, 8)
		mac[i] = byte(v)
		s = s[n:]
	}
	return mac, true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// strerror renders an error like glibc's strerror(3) for errno values (Go's
// texts are the glibc ones, lower-cased).
func strerror(err error) string {
	var errno syscall.Errno
	switch e := err.(type) {
	case syscall.Errno:
		errno = e
	case *os.PathError:
		return strerror(e.Err)
	case *os.SyscallError:
		return strerror(e.Err)
	default:
		return err.Error()
	}
	if errno == 0 {
		return "Success"
	}
	s := errno.Error()
	if s == "" {
		return "Unknown error " + strconv.Itoa(int(errno))
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
