package main

// The TEST STAND-IN's minimal "network stack" on an attached tap: enough for
// tests to see a live unikernel. It answers ARP requests for its IPv4
// address, ICMP echo requests, and UDP datagrams to port 7 (echo); UDP
// datagrams to any other port are printed on the console ("standin: udp from
// SRC:SPORT to PORT: TEXT"). It can send a UDP datagram of its own
// (--standin-send), resolving the next hop by ARP (requests every
// arpInterval, arpAttempts of them; replies are cached for the tender's
// lifetime). Nothing else (no TCP, no fragments, no IP options handling
// beyond skipping them).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

var be = binary.BigEndian

type netIface struct {
	name   string
	file   *os.File
	mac    [6]byte
	mtu    int
	prefix netip.Prefix // zero: no address, stay silent
	fatal  func(err error)
	print  func(s string) // console output; nil: console

	wmu sync.Mutex

	arpMu      sync.Mutex
	arpCache   map[[4]byte][6]byte
	arpChanged chan struct{} // closed (and replaced) when arpCache gains an entry
	ipID       uint16        // IPv4 identification of the datagrams we originate
}

// ARP resolution of the next hop for an outgoing datagram: a request every
// arpInterval until a reply arrives, at most arpAttempts requests (variables
// so that tests can shorten them).
var (
	arpInterval = 200 * time.Millisecond
	arpAttempts = 15
)

var broadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// serve reads frames until the descriptor fails or is closed.
func (n *netIface) serve() {
	buf := make([]byte, 65536)
	for {
		k, err := n.file.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			// EAGAIN is handled by the poller; anything else ends service.
			return
		}
		if k == 0 {
			continue
		}
		if reply := n.handleFrame(buf[:k]); reply != nil {
			n.write(reply)
		}
	}
}

func (n *netIface) write(frame []byte) {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	k, err := n.file.Write(frame)
	if err != nil {
		n.fatal(err)
		return
	}
	if k != len(frame) {
		n.fatal(errors.New("short write"))
	}
}

func (n *netIface) handleFrame(f []byte) []byte {
	if !n.prefix.IsValid() || len(f) < 14 {
		return nil
	}
	var dst [6]byte
	copy(dst[:], f[0:6])
	if dst != n.mac && dst != broadcastMAC {
		return nil
	}
	switch be.Uint16(f[12:14]) {
	case 0x0806:
		return n.handleARP(f)
	case 0x0800:
		return n.handleIPv4(f)
	}
	return nil
}

func (n *netIface) ourIP() [4]byte { return n.prefix.Addr().As4() }

func (n *netIface) handleARP(f []byte) []byte {
	a := f[14:]
	if len(a) < 28 {
		return nil
	}
	if be.Uint16(a[0:]) != 1 || be.Uint16(a[2:]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return nil
	}
	ip := n.ourIP()
	if !bytes.Equal(a[24:28], ip[:]) {
		return nil
	}
	switch be.Uint16(a[6:]) {
	case 1: // request: answered below
	case 2: // reply to us: remember the sender for resolve
		var sip [4]byte
		var smac [6]byte
		copy(sip[:], a[14:18])
		copy(smac[:], a[8:14])
		n.learn(sip, smac)
		return nil
	default:
		return nil
	}
	// To the requester: our MAC is at our address.
	return n.arpFrame(a[8:14], 2, ip, a[8:14], a[14:18])
}

func (n *netIface) handleIPv4(f []byte) []byte {
	p := f[14:]
	if len(p) < 20 || p[0]>>4 != 4 {
		return nil
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(be.Uint16(p[2:]))
	if ihl < 20 || total < ihl || total > len(p) {
		return nil
	}
	p = p[:total]
	if be.Uint16(p[6:])&0x3fff != 0 { // fragment (MF or offset)
		return nil
	}
	ip := n.ourIP()
	if !bytes.Equal(p[16:20], ip[:]) {
		return nil
	}
	var src [4]byte
	copy(src[:], p[12:16])
	payload := p[ihl:]
	switch p[9] {
	case 1: // ICMP
		if len(payload) < 8 || payload[0] != 8 || payload[1] != 0 {
			return nil
		}
		icmp := append([]byte(nil), payload...)
		icmp[0] = 0
		be.PutUint16(icmp[2:], 0)
		be.PutUint16(icmp[2:], checksum(icmp, 0))
		return n.ipv4Frame(f[6:12], src, 1, be.Uint16(p[4:]), icmp)
	case 17: // UDP
		if len(payload) < 8 {
			return nil
		}
		ulen := int(be.Uint16(payload[4:]))
		if ulen < 8 || ulen > len(payload) {
			return nil
		}
		if dport := be.Uint16(payload[2:]); dport != 7 {
			n.console(fmt.Sprintf("standin: udp from %s:%d to %d: %s\n",
				netip.AddrFrom4(src), be.Uint16(payload[0:]), dport, printable(payload[8:ulen])))
			return nil
		}
		udp := append([]byte(nil), payload[:ulen]...)
		sport, dport := be.Uint16(udp[0:]), be.Uint16(udp[2:])
		be.PutUint16(udp[0:], dport)
		be.PutUint16(udp[2:], sport)
		be.PutUint16(udp[6:], 0)
		sum := pseudoHeaderSum(ip, src, 17, len(udp))
		c := checksum(udp, sum)
		if c == 0 {
			c = 0xffff
		}
		be.PutUint16(udp[6:], c)
		return n.ipv4Frame(f[6:12], src, 17, 0, udp)
	}
	return nil
}

func (n *netIface) ipv4Frame(dstMAC []byte, dst [4]byte, proto byte, id uint16, payload []byte) []byte {
	r := make([]byte, 14+20+len(payload))
	copy(r[0:6], dstMAC)
	copy(r[6:12], n.mac[:])
	be.PutUint16(r[12:], 0x0800)
	h := r[14:34]
	h[0] = 0x45
	be.PutUint16(h[2:], uint16(20+len(payload)))
	be.PutUint16(h[4:], id)
	be.PutUint16(h[6:], 0x4000) // DF
	h[8] = 64
	h[9] = proto
	src := n.ourIP()
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	be.PutUint16(h[10:], checksum(h, 0))
	copy(r[34:], payload)
	return r
}

func (n *netIface) console(s string) {
	if n.print != nil {
		n.print(s)
		return
	}
	console(s)
}

// printable keeps printable ASCII (except the backslash) and writes every
// other byte as \xHH, so that one datagram stays one console line.
func printable(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '\\' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "\\x%02x", c)
		}
	}
	return sb.String()
}

// learn records an ARP reply and wakes resolve.
func (n *netIface) learn(ip [4]byte, mac [6]byte) {
	n.arpMu.Lock()
	defer n.arpMu.Unlock()
	if n.arpCache == nil {
		n.arpCache = map[[4]byte][6]byte{}
	}
	n.arpCache[ip] = mac
	if n.arpChanged != nil {
		close(n.arpChanged)
		n.arpChanged = nil
	}
}

// lookup returns the cached MAC of ip, or a channel closed when the cache
// next changes.
func (n *netIface) lookup(ip [4]byte) ([6]byte, bool, <-chan struct{}) {
	n.arpMu.Lock()
	defer n.arpMu.Unlock()
	if mac, ok := n.arpCache[ip]; ok {
		return mac, true, nil
	}
	if n.arpChanged == nil {
		n.arpChanged = make(chan struct{})
	}
	return [6]byte{}, false, n.arpChanged
}

// resolve returns the MAC of ip on this device: from the cache, else by ARP
// requests (broadcast, one every arpInterval, at most arpAttempts). The
// device keeps being served meanwhile (serve delivers the reply).
func (n *netIface) resolve(ip [4]byte) ([6]byte, error) {
	for i := 0; i < arpAttempts; i++ {
		mac, ok, changed := n.lookup(ip)
		if ok {
			return mac, nil
		}
		n.write(n.arpRequest(ip))
		timer := time.NewTimer(arpInterval)
	wait:
		for {
			select {
			case <-changed:
				if mac, ok, ch := n.lookup(ip); ok {
					timer.Stop()
					return mac, nil
				} else {
					changed = ch
				}
			case <-timer.C:
				break wait
			}
		}
	}
	if mac, ok, _ := n.lookup(ip); ok {
		return mac, nil
	}
	return [6]byte{}, fmt.Errorf("no ARP reply from %s on %s after %d requests in %s",
		netip.AddrFrom4(ip), n.name, arpAttempts, time.Duration(arpAttempts)*arpInterval)
}

// arpRequest builds a broadcast "who has ip, tell <our address>".
func (n *netIface) arpRequest(ip [4]byte) []byte {
	our := n.ourIP()
	// The target hardware address stays zero.
	return n.arpFrame(broadcastMAC[:], 1, our, make([]byte, 6), ip[:])
}

// arpFrame builds an Ethernet/IPv4 ARP frame from our MAC to dst: operation op (1 request, 2 reply), sender
// our MAC and senderIP, target targetMAC and targetIP.
func (n *netIface) arpFrame(dst []byte, op uint16, senderIP [4]byte, targetMAC, targetIP []byte) []byte {
	r := make([]byte, 42)
	copy(r[0:6], dst)
	copy(r[6:12], n.mac[:])
	be.PutUint16(r[12:], 0x0806)
	p := r[14:]
	be.PutUint16(p[0:], 1)
	be.PutUint16(p[2:], 0x0800)
	p[4], p[5] = 6, 4
	be.PutUint16(p[6:], op)
	copy(p[8:14], n.mac[:])
	copy(p[14:18], senderIP[:])
	copy(p[18:24], targetMAC)
	copy(p[24:28], targetIP)
	return r
}

// sendUDP sends one datagram from our address and sport to dst:dport,
// through nextHop (dst itself on our subnet, else the gateway), whose MAC it
// resolves by ARP first.
func (n *netIface) sendUDP(nextHop, dst netip.Addr, sport, dport uint16, payload []byte) error {
	if !n.prefix.IsValid() {
		return fmt.Errorf("network device %s has no IPv4 address", n.name)
	}
	if n.mtu > 0 && 28+len(payload) > n.mtu {
		return fmt.Errorf("datagram of %d bytes does not fit the MTU %d of %s", 28+len(payload), n.mtu, n.name)
	}
	mac, err := n.resolve(nextHop.As4())
	if err != nil {
		return err
	}
	udp := make([]byte, 8+len(payload))
	be.PutUint16(udp[0:], sport)
	be.PutUint16(udp[2:], dport)
	be.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	c := checksum(udp, pseudoHeaderSum(n.ourIP(), dst.As4(), 17, len(udp)))
	if c == 0 {
		c = 0xffff
	}
	be.PutUint16(udp[6:], c)
	n.arpMu.Lock()
	n.ipID++
	id := n.ipID
	n.arpMu.Unlock()
	n.write(n.ipv4Frame(mac[:], dst.As4(), 17, id, udp))
	return nil
}

func pseudoHeaderSum(src, dst [4]byte, proto byte, length int) uint32 {
	var s uint32
	s += uint32(be.Uint16(src[0:])) + uint32(be.Uint16(src[2:]))
	s += uint32(be.Uint16(dst[0:])) + uint32(be.Uint16(dst[2:]))
	s += uint32(proto) + uint32(length)
	return s
}

// checksum is the Internet checksum of b, starting from partial sum s.
func checksum(b []byte, s uint32) uint16 {
	for len(b) >= 2 {
		s += uint32(be.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
