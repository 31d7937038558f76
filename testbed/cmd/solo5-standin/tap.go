package main

// Tap attachment of the TEST STAND-IN, mirroring tenders/common/tap_attach.c
// (Linux): the interface must already exist and be up; the stand-in then
// attaches to it with TUNSETIFF (IFF_TAP | IFF_NO_PI), so a persistent tap
// owned by another user fails with EPERM and one already in use with EBUSY,
// as with the real tender.

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const (
	ifNameSize  = 16
	iffTap      = 0x0002
	iffNoPI     = 0x1000
	tunSetIff   = 0x400454ca
	tunGetIff   = 0x800454d2
	siocGIFMTU  = 0x8921
	siocEthtool = 0x8946
	ethtoolSGSO = 0x24
	ethtoolSGRO = 0x2c
)

// ifreq is struct ifreq on LP64 Linux: name, then a 24-byte union.
type ifreq struct {
	name [ifNameSize]byte
	data [24]byte
}

// ethtoolValue must not live on a goroutine stack (the kernel gets its
// address through ifreq), so it is a package variable.
var ethtoolValue struct{ cmd, data uint32 }

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// allowNetFD: the real tenders since v0.10 fail every --net:NAME=@FD (the
// MTU of a passed descriptor is never determined, so the attach is reported
// as failed); SOLO5_STANDIN_NET_FD=1 restores the older, working behaviour.
func allowNetFD() bool { return os.Getenv("SOLO5_STANDIN_NET_FD") == "1" }

// tapAttach returns the attached tap and its MTU.
func tapAttach(ifname string) (*os.File, int, error) {
	if strings.HasPrefix(ifname, "@") {
		return attachFD(ifname[1:])
	}
	if len(ifname) >= ifNameSize {
		return nil, -1, syscall.ENAMETOOLONG
	}
	flags, found, err := linkFlags(ifname)
	if err != nil {
		return nil, -1, err
	}
	if !found {
		return nil, -1, syscall.ENOENT
	}
	if flags&(syscall.IFF_UP|syscall.IFF_RUNNING) == 0 {
		return nil, -1, syscall.ENETDOWN
	}
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, err
	}
	var ifr ifreq
	copy(ifr.name[:ifNameSize-1], ifname)
	*(*uint16)(unsafe.Pointer(&ifr.data[0])) = iffTap | iffNoPI
	if err := ioctl(fd, tunSetIff, unsafe.Pointer(&ifr)); err != nil {
		syscall.Close(fd)
		return nil, -1, err
	}
	if cString(ifr.name[:]) != ifname {
		syscall.Close(fd)
		return nil, -1, syscall.EINVAL
	}
	mtu, err := interfaceMTU(ifname)
	if err != nil {
		syscall.Close(fd)
		return nil, -1, err
	}
	disableOffloads(ifname)
	return os.NewFile(uintptr(fd), "tap:"+ifname), mtu, nil
}

// attachFD mirrors the "@NN" branch (strtol, range check, O_NONBLOCK).
func attachFD(s string) (*os.File, int, error) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	digits := t
	if digits != "" && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	n := 0
	for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	if n == 0 || n != len(digits) {
		return nil, -1, syscall.EINVAL
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > 1<<31-1 {
		return nil, -1, syscall.ERANGE
	}
	fd := int(v)
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFL, syscall.O_NONBLOCK); e != 0 {
		return nil, -1, e
	}
	if !allowNetFD() {
		// Real v0.10+ behaviour: the MTU stays unknown and the caller
		// reports the attach as failed with whatever errno holds (0).
		return nil, -1, syscall.Errno(0)
	}
	mtu := 1500
	var ifr ifreq
	if ioctl(fd, tunGetIff, unsafe.Pointer(&ifr)) == nil {
		if m, err := interfaceMTU(cString(ifr.name[:])); err == nil {
			mtu = m
		}
	}
	return os.NewFile(uintptr(fd), "tap:@"+s), mtu, nil
}

func interfaceMTU(ifname string) (int, error) {
	sock, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer syscall.Close(sock)
	var ifr ifreq
	copy(ifr.name[:ifNameSize-1], ifname)
	if err := ioctl(sock, siocGIFMTU, unsafe.Pointer(&ifr)); err != nil {
		return -1, err
	}
	return int(*(*int32)(unsafe.Pointer(&ifr.data[0]))), nil
}

// disableOffloads turns GRO and GSO off on the tap, like the real tender
// (errors ignored, as there).
func disableOffloads(ifname string) {
	sock, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer syscall.Close(sock)
	for _, cmd := range []uint32{ethtoolSGRO, ethtoolSGSO} {
		ethtoolValue.cmd, ethtoolValue.data = cmd, 0
		var ifr ifreq
		copy(ifr.name[:ifNameSize-1], ifname)
		*(*uintptr)(unsafe.Pointer(&ifr.data[0])) = uintptr(unsafe.Pointer(&ethtoolValue))
		ioctl(sock, siocEthtool, unsafe.Pointer(&ifr))
	}
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
