package main

// The "unikernel" of the TEST STAND-IN: instead of running guest code, the
// stand-in prints what the Solo5 bindings print and then interprets the
// unikernel arguments itself.
//
// Unikernel arguments (everything after KERNEL, joined with spaces into the
// guest command line as the real tender does; the application splits it on
// white space, "double quotes" and backslash escapes group words):
//
//	--solo5:quiet|error|warn|info|debug  leading only, as in Solo5: log level
//	--ipv4=A.B.C.D/N          address of the device "service" (else the first
//	                          network device)
//	--ipv4:DEV=A.B.C.D/N      address of network device DEV
//	--ipv4-gateway=A.B.C.D    the default gateway (for --standin-send)
//	--standin-print=TEXT      print TEXT and a newline
//	--standin-send=IP:PORT:TEXT
//	                          send one UDP datagram with payload TEXT (may
//	                          contain ':'; may be empty) from the device's
//	                          address, source port 40000+N for the N-th send
//	                          (from 0), to IP:PORT: through the device whose
//	                          subnet holds IP, else through the gateway (on
//	                          the device whose subnet holds it). The next hop
//	                          is resolved by ARP (a request every 200 ms, 15
//	                          at most; replies are cached; the network keeps
//	                          being served); then "standin: sent TEXT to
//	                          IP:PORT" is printed. No ARP reply, no route or
//	                          a malformed value is an application error.
//	--standin-sleep=MS        wait MS milliseconds (the network keeps being served)
//	--standin-await=PATH      wait until PATH exists (a test releases the guest
//	                          when it is ready; the network keeps being served)
//	--standin-exit=N          solo5_exit(N): the tender exits with status N
//	--standin-abort[=MSG]     "Solo5: ABORT: standin.c:1: MSG", exit status 255
//	--standin-solo5-abort     solo5_abort(): exit status 255
//	--standin-run             serve the network until a signal arrives
//	--standin-spin            keep one CPU busy until a signal arrives (a CPU-bound
//	                          guest, for cgroup CPU shares)
//
// They are executed in order; falling off the end is solo5_exit(0). While the
// application runs, each UDP datagram to the device's address on a port other
// than 7 (echo) is printed as "standin: udp from SRC:SPORT to PORT: TEXT"
// (bytes other than printable ASCII, and the backslash, as \xHH). With no
// --standin-* argument at all the application prints "Hello from a stand-in
// hvt unikernel" (or spt) and exits 0. Other arguments are ignored; a
// malformed or unknown --standin-* argument is an application error (a
// message and exit status 1).

import (
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Solo5 log levels (bindings/log.h).
const (
	logError = iota
	logWarn
	logInfo
	logDebug
)

type guest struct {
	t        *tender
	img      *kernelImage
	memSize  uint64
	logLevel int
	nets     []*netIface
	gateway  netip.Addr // --ipv4-gateway; zero: none
	sends    int        // --standin-send steps done (source port 40000+sends)
}

// console writes guest output to stdout in one write per call, like the
// puts hypercall does.
func console(s string) { os.Stdout.WriteString(s) }

func (g *guest) log(level int, format string, args ...any) {
	if level <= g.logLevel {
		console(fmt.Sprintf(format, args...))
	}
}

// parseSolo5Options mirrors bindings/cmdline.c: only leading --solo5:*
// options are consumed.
func parseSolo5Options(cmdline string) (level int, rest string) {
	level = logInfo
	opts := map[string]int{
		"--solo5:quiet": logError, "--solo5:error": logError,
		"--solo5:warn": logWarn, "--solo5:info": logInfo, "--solo5:debug": logDebug,
	}
	p := strings.TrimLeft(cmdline, " \t\n\v\f\r")
	for p != "" {
		matched := false
		for opt, l := range opts {
			if strings.HasPrefix(p, opt) && (len(p) == len(opt) || isSpace(p[len(opt)])) {
				level = l
				p = strings.TrimLeft(p[len(opt):], " \t\n\v\f\r")
				matched = true
				break
			}
		}
		if !matched {
			break
		}
	}
	return level, p
}

// splitArgs splits the application command line into words.
func splitArgs(s string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '"':
			quoted = !quoted
			inWord = true
		case isSpace(c) && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func (t *tender) boot(img *kernelImage, memSize uint64, cmdline string) int {
	img.f.Close()
	level, appCmdline := parseSolo5Options(cmdline)
	g := &guest{t: t, img: img, memSize: memSize, logLevel: level}

	g.log(logInfo, "            |      ___|\n")
	g.log(logInfo, "  __|  _ \\  |  _ \\ __ \\\n")
	g.log(logInfo, "\\__ \\ (   | | (   |  ) |\n")
	g.log(logInfo, "____/\\___/ _|\\___/____/\n")
	g.log(logInfo, "Solo5: Bindings version %s\n", version)
	heap := (img.end + pageSize - 1) &^ (pageSize - 1)
	if heap+0x80000 > memSize {
		// bindings/mem.c refuses to run with less than 512 KiB free.
		console("Solo5: ABORT: mem.c:54: Not enough memory\n")
		return g.halt(255)
	}
	g.log(logInfo, "Solo5: Memory map: %d MB addressable:\n", memSize>>20)
	g.log(logInfo, "Solo5:   reserved @ (0x0 - 0x%x)\n", guestMinBase-1)
	g.log(logInfo, "Solo5:       text @ (0x%x - 0x%x)\n", guestMinBase, img.etext-1)
	g.log(logInfo, "Solo5:     rodata @ (0x%x - 0x%x)\n", img.etext, img.erodata-1)
	g.log(logInfo, "Solo5:       data @ (0x%x - 0x%x)\n", img.erodata, img.end-1)
	g.log(logInfo, "Solo5:       heap >= 0x%x < stack < 0x%x\n", heap, memSize)

	return g.runApp(splitArgs(appCmdline))
}

func (g *guest) appError(format string, args ...any) int {
	console("standin: error: " + fmt.Sprintf(format, args...) + "\n")
	return g.exit(1)
}

// exit is solo5_exit(status).
func (g *guest) exit(status int) int {
	g.log(logInfo, "Solo5: solo5_exit(%d) called\n", status)
	return g.halt(status)
}

func (g *guest) halt(status int) int {
	g.t.dumpcore(status&0xff, g.memSize)
	return status & 0xff
}

func (g *guest) runApp(words []string) int {
	m := g.img.mft
	var nets []*mftEntry
	for i := range m.entries {
		if m.entries[i].typ == mftNetBasic {
			nets = append(nets, &m.entries[i])
		}
	}
	addrs := map[string]netip.Prefix{}
	behaviour := false
	for _, w := range words {
		switch {
		case strings.HasPrefix(w, "--ipv4="):
			p, err := netip.ParsePrefix(w[len("--ipv4="):])
			if err != nil || !p.Addr().Is4() {
				return g.appError("invalid value in %s", w)
			}
			if len(nets) == 0 {
				g.log(logWarn, "standin: warning: %s ignored: no network device\n", w)
				continue
			}
			dev := nets[0].name
			if m.byName("service", mftNetBasic) != nil {
				dev = "service"
			}
			addrs[dev] = p
		case strings.HasPrefix(w, "--ipv4:"):
			dev, val, ok := strings.Cut(w[len("--ipv4:"):], "=")
			if !ok {
				return g.appError("invalid argument %s", w)
			}
			p, err := netip.ParsePrefix(val)
			if err != nil || !p.Addr().Is4() {
				return g.appError("invalid value in %s", w)
			}
			if m.byName(dev, mftNetBasic) == nil {
				return g.appError("%s: no network device named '%s'", w, dev)
			}
			addrs[dev] = p
		case strings.HasPrefix(w, "--ipv4-gateway="):
			a, err := netip.ParseAddr(w[len("--ipv4-gateway="):])
			if err != nil || !a.Is4() {
				return g.appError("invalid value in %s", w)
			}
			g.log(logInfo, "standin: ipv4 gateway %s\n", a)
			g.gateway = a
		case strings.HasPrefix(w, "--standin-"):
			behaviour = true
		}
	}

	for i := range m.entries {
		e := &m.entries[i]
		switch {
		case e.typ == mftBlockBasic && e.attached:
			g.log(logInfo, "standin: block %s: %d bytes, sector size %d\n", e.name, e.capacity, e.blockSize)
		case e.typ == mftNetBasic && e.attached:
			n := &netIface{name: e.name, file: e.file, mac: e.mac, mtu: e.mtu, prefix: addrs[e.name]}
			n.fatal = func(err error) {
				g.t.warnx("Fatal write error on net device: %s", strerror(err))
				os.Exit(1)
			}
			addr := "none"
			if n.prefix.IsValid() {
				addr = n.prefix.String()
			}
			g.log(logInfo, "standin: net %s: mac %s, mtu %d, ipv4 %s\n", e.name, formatMAC(e.mac), e.mtu, addr)
			g.nets = append(g.nets, n)
			go n.serve()
		}
	}

	if !behaviour {
		console(fmt.Sprintf("Hello from a stand-in %s unikernel\n", g.t.name))
		return g.exit(0)
	}
	for _, w := range words {
		if !strings.HasPrefix(w, "--standin-") {
			continue
		}
		name, val, hasVal := strings.Cut(w, "=")
		switch name {
		case "--standin-print":
			console(val + "\n")
		case "--standin-sleep":
			ms, err := strconv.Atoi(val)
			if err != nil || ms < 0 {
				return g.appError("invalid value in %s", w)
			}
			time.Sleep(time.Duration(ms) * time.Millisecond)
		case "--standin-await":
			if val == "" {
				return g.appError("invalid value in %s", w)
			}
			for { // until the file exists: a test's release, checked every 10 ms
				if _, err := os.Stat(val); err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		case "--standin-send":
			dst, text, err := parseSend(val)
			if err != nil {
				return g.appError("invalid value in %s: %v (want IP:PORT:TEXT)", w, err)
			}
			if err := g.send(dst, text); err != nil {
				return g.appError("%s: %v", w, err)
			}
		case "--standin-exit":
			n, err := strconv.Atoi(val)
			if err != nil {
				return g.appError("invalid value in %s", w)
			}
			return g.exit(n)
		case "--standin-abort":
			msg := "Stand-in abort requested"
			if hasVal {
				msg = val
			}
			console("Solo5: ABORT: standin.c:1: " + msg + "\n")
			return g.halt(255)
		case "--standin-solo5-abort":
			g.log(logInfo, "Solo5: solo5_abort() called\n")
			return g.halt(255)
		case "--standin-run":
			for { // until a signal ends the tender
				time.Sleep(time.Hour)
			}
		case "--standin-spin":
			spin()
		default:
			return g.appError("unknown option %s", w)
		}
	}
	return g.exit(0)
}

// parseSend splits the value of --standin-send=IP:PORT:TEXT (IPv4, port
// 1..65535; TEXT is everything after the second colon).
func parseSend(val string) (netip.AddrPort, string, error) {
	ipStr, rest, ok := strings.Cut(val, ":")
	if !ok {
		return netip.AddrPort{}, "", fmt.Errorf("missing :PORT:TEXT")
	}
	portStr, text, ok := strings.Cut(rest, ":")
	if !ok {
		return netip.AddrPort{}, "", fmt.Errorf("missing :TEXT")
	}
	ip, err := netip.ParseAddr(ipStr)
	if err != nil || !ip.Is4() {
		return netip.AddrPort{}, "", fmt.Errorf("invalid IPv4 address %q", ipStr)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, "", fmt.Errorf("invalid port %q", portStr)
	}
	return netip.AddrPortFrom(ip, uint16(port)), text, nil
}

// route picks the device and next hop for dst as a unikernel's stack would:
// the first device whose subnet holds dst (next hop dst itself), else the
// device whose subnet holds the gateway (next hop the gateway).
func (g *guest) route(dst netip.Addr) (*netIface, netip.Addr, error) {
	for _, n := range g.nets {
		if n.prefix.IsValid() && n.prefix.Masked().Contains(dst) {
			if dst == n.prefix.Addr() {
				return nil, netip.Addr{}, fmt.Errorf("%s is the address of %s", dst, n.name)
			}
			return n, dst, nil
		}
	}
	if !g.gateway.IsValid() {
		return nil, netip.Addr{}, fmt.Errorf("no route to %s: not in a device's subnet and no --ipv4-gateway", dst)
	}
	for _, n := range g.nets {
		if n.prefix.IsValid() && n.prefix.Masked().Contains(g.gateway) {
			return n, g.gateway, nil
		}
	}
	return nil, netip.Addr{}, fmt.Errorf("no route to %s: gateway %s is not in a device's subnet", dst, g.gateway)
}

// send is one --standin-send step.
func (g *guest) send(dst netip.AddrPort, text string) error {
	n, hop, err := g.route(dst.Addr())
	if err != nil {
		return err
	}
	sport := uint16(40000 + g.sends)
	g.sends++
	if err := n.sendUDP(hop, dst.Addr(), sport, dst.Port(), []byte(text)); err != nil {
		if hop != dst.Addr() {
			return fmt.Errorf("via gateway %s: %w", hop, err)
		}
		return err
	}
	console(fmt.Sprintf("standin: sent %s to %s\n", text, dst))
	return nil
}

// spin burns CPU on the calling goroutine until a signal ends the tender.
func spin() {
	x := uint64(1)
	for {
		x = x*6364136223846793005 + 1442695040888963407
		if x == 0 {
			fmt.Print("") // never: keeps the loop from being optimised away
		}
	}
}

func formatMAC(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// installSignalHandlers mirrors hvt: SIGINT/SIGTERM end the tender with
// "Exiting on signal N" and status 1. (spt installs none and dies from the
// signal.)
func installSignalHandlers(t *tender) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-ch
		t.warnx("Exiting on signal %d", int(s.(syscall.Signal)))
		os.Exit(1)
	}()
}
