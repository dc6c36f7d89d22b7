package lab

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool commands of the legacy ioctl interface (linux/ethtool.h).
const (
	ethtoolSTXCSUM = 0x17 // set tx checksum offload
	ethtoolSGRO    = 0x2c // set generic receive offload
)

type ethtoolValue struct {
	cmd, data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte // the rest of struct ifreq
}

// txChecksumOff turns tx checksum offload off on ifname, in the calling
// thread's namespace. A veth otherwise hands its peer TCP and UDP packets
// whose checksum holds only the pseudo-header sum, left for "hardware" to
// complete: a gateway that rewrites them, as a real one on a real wire never
// sees them, would forward a wrong checksum.
func txChecksumOff(ifname string) error {
	return ethtoolSet(ifname, ethtoolSTXCSUM, 0, "tx checksum offload")
}

// GROOn turns generic receive offload on for ifname inside namespace ns. A
// veth with GRO receives through NAPI rather than the receiving CPU's
// backlog queue, as a veth with an XDP program does, but without converting
// each skb for XDP.
func GROOn(ns, ifname string) error {
	return Do(ns, func() error { return ethtoolSet(ifname, ethtoolSGRO, 1, "generic receive offload") })
}

func ethtoolSet(ifname string, cmd, value uint32, what string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	v := ethtoolValue{cmd: cmd, data: value}
	var req ifreqData
	copy(req.name[:], ifname)
	req.data = uintptr(unsafe.Pointer(&v))
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req)))
	if e != 0 {
		return fmt.Errorf("setting %s to %d on %s: %w", what, value, ifname, e)
	}
	return nil
}
