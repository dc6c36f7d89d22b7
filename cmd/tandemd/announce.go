package main

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/dataplane/packet"
)

// announce tells the link that addr is now at ifname's hardware address:
// a gratuitous ARP for IPv4, an unsolicited neighbour advertisement
// (Override set) for IPv6, sent from an AF_PACKET socket. Hosts and
// switches that cached the old member's address move to this one.
func announce(ifname string, addr netip.Addr) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("announcing %v on %s: %w", addr, ifname, err)
	}
	var hw [6]byte
	copy(hw[:], ifi.HardwareAddr)
	buf := make([]byte, 128)
	var n int
	if addr.Is4() {
		n = packet.BuildGratuitousARP(buf, 0, hw, addr.As4())
	} else {
		a := addr.As16()
		n = packet.BuildUnsolicitedNA(buf, 0, hw, a, a, true)
	}
	if n == 0 {
		return fmt.Errorf("announcing %v on %s: frame did not fit", addr, ifname)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("announcing %v on %s: packet socket: %w", addr, ifname, err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if err := unix.Sendto(fd, buf[:n], 0, to); err != nil {
		return fmt.Errorf("announcing %v on %s: %w", addr, ifname, err)
	}
	return nil
}
