package lab

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool commands of the legacy ioctl interface (linux/ethtool.h).
const (
	ethtoolSTXCSUM = 0x17 // set tx checksum offload
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
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	v := ethtoolValue{cmd: ethtoolSTXCSUM, data: 0}
	var req ifreqData
	copy(req.name[:], ifname)
	req.data = uintptr(unsafe.Pointer(&v))
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req)))
	if e != 0 {
		return fmt.Errorf("turning tx checksum offload off on %s: %w", ifname, e)
	}
	return nil
}
