package main

// The interface check of tenders/common/tap_attach.c: getifaddrs(3), then a
// walk of its list for the name. glibc's getifaddrs asks the kernel for a dump
// of every link and then of every address (rtnetlink, RTM_GETLINK and
// RTM_GETADDR); the stand-in makes the same two requests and reads the
// answers into one reused buffer, so that its cost grows with the links of
// the namespace as the real tender's does, without the Go allocations of
// net.InterfaceByName (which cost two to three times glibc's call with 500
// taps on the bridge).

import (
	"encoding/binary"
	"syscall"
)

const ifinfomsgLen = 16

// linkFlags reports whether a link named ifname exists in the caller's
// network namespace, and its flags (struct ifinfomsg's ifi_flags).
func linkFlags(ifname string) (flags uint32, found bool, err error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return 0, false, err
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return 0, false, err
	}
	buf := make([]byte, 32*1024)
	err = dump(fd, buf, syscall.RTM_GETLINK, 1, func(m syscall.NetlinkMessage) {
		if found || m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < ifinfomsgLen {
			return
		}
		if name, ok := attrString(m.Data[ifinfomsgLen:], syscall.IFLA_IFNAME); ok && name == ifname {
			flags, found = binary.LittleEndian.Uint32(m.Data[8:12]), true
		}
	})
	if err != nil {
		return 0, false, err
	}
	// The addresses are asked for too, as getifaddrs does, and not looked at.
	if err := dump(fd, buf, syscall.RTM_GETADDR, 2, func(syscall.NetlinkMessage) {}); err != nil {
		return 0, false, err
	}
	return flags, found, nil
}

// dump sends one NLM_F_DUMP request and hands each answer to each until NLMSG_DONE.
func dump(fd int, buf []byte, request uint16, seq uint32, each func(syscall.NetlinkMessage)) error {
	req := make([]byte, syscall.NLMSG_HDRLEN+ifinfomsgLen)
	binary.LittleEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.LittleEndian.PutUint16(req[4:6], request)
	binary.LittleEndian.PutUint16(req[6:8], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	binary.LittleEndian.PutUint32(req[8:12], seq)
	req[syscall.NLMSG_HDRLEN] = syscall.AF_UNSPEC
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return err
	}
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return nil
			case syscall.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(binary.LittleEndian.Uint32(m.Data[0:4])); code < 0 {
						return syscall.Errno(-code)
					}
				}
				return syscall.EPROTO
			}
			each(m)
		}
	}
}

// attrString returns the NUL-terminated string attribute of type want among rtattrs.
func attrString(attrs []byte, want uint16) (string, bool) {
	for len(attrs) >= syscall.SizeofRtAttr {
		l := int(binary.LittleEndian.Uint16(attrs[0:2]))
		t := binary.LittleEndian.Uint16(attrs[2:4])
		if l < syscall.SizeofRtAttr || l > len(attrs) {
			return "", false
		}
		if t == want {
			return cString(attrs[syscall.SizeofRtAttr:l]), true
		}
		next := (l + syscall.RTA_ALIGNTO - 1) &^ (syscall.RTA_ALIGNTO - 1)
		if next > len(attrs) {
			return "", false
		}
		attrs = attrs[next:]
	}
	return "", false
}
