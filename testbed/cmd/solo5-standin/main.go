// Command solo5-standin is a TEST STAND-IN for the Solo5 tenders solo5-hvt
// and solo5-spt. IT IS NOT SOLO5: it runs no guest code, needs no KVM and no
// seccomp (it only opens /dev/kvm, as solo5-hvt does first), and exists only so that nomad-driver-mirage can be tested on
// machines without a working Solo5 installation.
//
// One binary plays both tenders; the role is picked from the base name of
// argv[0]: "solo5-hvt", "solo5-hvt-debug" (adds --dumpcore / --gdb like the
// real debug build) or "solo5-spt" (install it under those names as symlinks
// or copies; scripts/build-test-fixtures.sh does that).
//
// What it mirrors from the real tenders (Solo5 v0.12.x sources:
// tenders/hvt/hvt_main.c, tenders/spt/spt_main.c, tenders/common/*.c and the
// tender modules), as closely as a test needs:
//
//   - the command line, parsed in the same two passes: --help / --version /
//     "Missing KERNEL operand" first, then the kernel's ABI and manifest notes
//     are read and validated, then the options (--mem=MB, --net:NAME=IFACE,
//     --net:NAME=@FD, --net-mac:NAME=HWADDR, --block:NAME=PATH,
//     --block-sector-size:NAME=N, spt's --x-exec-heap, hvt-debug's
//     --dumpcore=DIR and --gdb) are handed to the "modules" in the same order,
//     with the same error messages and exit status 1;
//   - tap attachment through /dev/net/tun (TUNSETIFF, IFF_TAP|IFF_NO_PI) to an
//     existing interface that is up, with the same errno-based failures
//     (ENOENT, ENETDOWN, EPERM/EBUSY from TUNSETIFF, ...);
//   - "All declared devices must be attached";
//   - the guest console on stdout (Solo5 banner, memory map, "Solo5:
//     solo5_exit(N) called"), honouring --solo5:quiet|error|warn|info|debug at
//     the start of the unikernel arguments; tender messages on stderr;
//   - exit statuses: solo5_exit(N) -> N, aborts -> 255, SIGINT/SIGTERM ->
//     "solo5-hvt: Exiting on signal N" and 1 for hvt (spt installs no handler
//     and simply dies from the signal).
//
// What it does instead of running the unikernel: it interprets the unikernel
// arguments itself (see app.go): --standin-print=TEXT, --standin-sleep=MS,
// --standin-await=PATH, --standin-send=IP:PORT:TEXT, --standin-exit=N,
// --standin-abort[=MSG], --standin-solo5-abort, --standin-run, --standin-spin;
// with none of them it prints "Hello from a stand-in hvt unikernel" (or spt)
// and exits 0. On each attached network device it answers ARP, ICMP echo and
// UDP echo (port 7) for the IPv4 address given by MirageOS-style arguments
// (--ipv4=A.B.C.D/N for the device "service", or the first one;
// --ipv4:DEV=A.B.C.D/N for others), and prints every other UDP datagram it
// receives ("standin: udp from SRC:SPORT to PORT: TEXT").
// --standin-send=IP:PORT:TEXT sends one UDP datagram as a unikernel would:
// the next hop (IP on the device's subnet, else the --ipv4-gateway=) is
// resolved by ARP first.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// version is what --version reports; override with
// -ldflags "-X main.version=...".
var version = "v0.12.1-standin"

// abiVersion is the hvt/spt ABI version of Solo5 v0.9 .. v0.12.
const abiVersion = 2

const (
	targetHVT = 1
	targetSPT = 2
)

// tender describes which real tender is being imitated.
type tender struct {
	prog    string // basename of argv[0], used as the err(3) prefix
	name    string // "hvt" or "spt"
	target  uint32 // ABI target the kernel must declare
	debug   bool   // solo5-hvt-debug: gdb and dumpcore modules
	modules []module

	useGdb      bool
	dumpcoreDir string
}

func main() {
	prog := filepath.Base(os.Args[0])
	t, ok := pickTender(prog)
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: this is the nomad-driver-mirage test stand-in for solo5-hvt/solo5-spt;\n"+
			"invoke it through a link named solo5-hvt, solo5-hvt-debug or solo5-spt\n", prog)
		os.Exit(2)
	}
	os.Exit(t.run(os.Args[1:]))
}

func pickTender(prog string) (*tender, bool) {
	t := &tender{prog: prog}
	switch {
	case strings.Contains(prog, "hvt-debug"):
		t.name, t.target, t.debug = "hvt", targetHVT, true
	case strings.Contains(prog, "hvt"):
		t.name, t.target = "hvt", targetHVT
	case strings.Contains(prog, "spt"):
		t.name, t.target = "spt", targetSPT
	default:
		return nil, false
	}
	t.modules = t.buildModules()
	return t, true
}

// exitError ends the program from deep inside the parsing code with the
// status the real tender would use.
type exitError struct{ code int }

// warnx prints like warnx(3): "prog: message".
func (t *tender) warnx(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", t.prog, fmt.Sprintf(format, args...))
}

// errx prints like errx(3) and exits with status code.
func (t *tender) errx(code int, format string, args ...any) {
	t.warnx(format, args...)
	panic(exitError{code})
}

// errno prints like err(3): "prog: message: strerror(errno)" and exits.
func (t *tender) err(code int, e error, format string, args ...any) {
	t.warnx("%s: %s", fmt.Sprintf(format, args...), strerror(e))
	panic(exitError{code})
}

func (t *tender) run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(exitError); ok {
				code = e.code
				return
			}
			panic(r)
		}
	}()
	return t.main(args)
}

func (t *tender) usage() {
	var b strings.Builder
	if t.name == "hvt" {
		fmt.Fprintf(&b, "usage: %s [ CORE OPTIONS ] [ MODULE OPTIONS ] [ -- ] KERNEL [ ARGS ]\n", t.prog)
	} else {
		fmt.Fprintf(&b, "usage: %s [ CORE OPTIONS ] [ -- ] KERNEL [ ARGS ]\n", t.prog)
	}
	b.WriteString("KERNEL is the filename of the unikernel to run.\n")
	b.WriteString("ARGS are optional arguments passed to the unikernel.\n")
	b.WriteString("Core options:\n")
	b.WriteString("  [ --mem=512 ] (guest memory in MB)\n")
	b.WriteString("    --help (display this help)\n")
	if t.name == "hvt" {
		b.WriteString("    --version (display version information)\n")
	}
	b.WriteString("Compiled-in modules: ")
	for _, m := range t.modules {
		b.WriteString(m.name + " ")
	}
	b.WriteString("\n")
	b.WriteString("Compiled-in module options:\n")
	n := 0
	for _, m := range t.modules {
		if m.usage != "" {
			fmt.Fprintf(&b, "    %s\n", m.usage)
			n++
		}
	}
	if n == 0 {
		b.WriteString("    (none)\n")
	}
	b.WriteString("(nomad-driver-mirage test stand-in, not Solo5)\n")
	os.Stderr.WriteString(b.String())
	panic(exitError{1})
}

func (t *tender) version() {
	fmt.Fprintf(os.Stderr, "%s tender, version %s\nABI version %d\n", t.prog, version, abiVersion)
	panic(exitError{0})
}

func (t *tender) main(args []string) int {
	// Pass 1: find KERNEL, honouring the terminal options --help/--version.
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if args[i] == "--" {
			i++
			break
		}
		switch args[i] {
		case "--help":
			t.usage()
		case "--version":
			t.version()
		}
		i++
	}
	if i >= len(args) {
		t.warnx("Missing KERNEL operand")
		t.usage()
	}
	kernel := args[i]

	// Read and check the notes before the options, as they depend on the
	// manifest.
	img := t.loadKernel(kernel)
	mft := img.mft

	// Pass 2: options, handled by the "modules".
	memSize := uint64(0x20000000)
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		matched := false
		if strings.HasPrefix(args[0], "--mem=") {
			memSize = t.handleMem(args[0])
			matched = true
			args = args[1:]
		}
		// As in the real tender there is no "else" here: after --mem=, the
		// next argument is offered to the modules in the same round.
		if len(args) > 0 && t.handleCmdarg(args[0], mft) {
			matched = true
			args = args[1:]
		}
		if !matched {
			t.warnx("Invalid option: `%s'", args[0])
			t.usage()
		}
	}
	if len(args) == 0 || args[0] != kernel {
		// Cannot happen for well-formed input; the real tender asserts.
		t.errx(1, "internal error: lost track of KERNEL operand")
	}
	guestArgs := args[1:]

	if t.name == "hvt" {
		installSignalHandlers(t)
		// hvt_init: the real tender opens /dev/kvm here, before loading the
		// kernel and attaching devices; the stand-in only keeps it open.
		if _, err := openKVM(); err != nil {
			t.err(1, err, "Could not open: /dev/kvm")
		}
	}

	img.checkLoad(t, memSize)

	t.setupModules(mft)

	if t.debug {
		t.warnx("WARNING: Tender is configured with HVT_DROP_PRIVILEGES=0. Not dropping any privileges.")
		t.warnx("WARNING: This is not recommended for production use.")
	}

	cmdline := t.buildCmdline(guestArgs)
	return t.boot(img, memSize, cmdline)
}

// handleMem mirrors sscanf(arg, "--mem=%zd") followed by a non-zero check.
func (t *tender) handleMem(arg string) uint64 {
	v, ok := scanInt(arg[len("--mem="):])
	if !ok || v <= 0 || uint64(v)<<20 == 0 {
		t.errx(1, "Malformed argument to --mem")
	}
	return uint64(v) << 20
}

func (t *tender) buildCmdline(argv []string) string {
	const cmdlineSize = 8192
	s := strings.Join(argv, " ")
	if len(s) >= cmdlineSize {
		t.errx(1, "Guest command line too long (max=%d characters)", cmdlineSize-1)
	}
	return s
}

// openKVM opens /dev/kvm as hvt_init does (O_RDWR | O_CLOEXEC); the
// descriptor stays open for the tender's lifetime, as the real one's does.
func openKVM() (int, error) {
	return syscall.Open("/dev/kvm", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
}
