package main

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/dataplane/packet"
)

// announcer tells links that addresses are now at this member's hardware
// addresses: a gratuitous ARP for IPv4, an unsolicited neighbour
// advertisement (Override set) for IPv6, sent from one AF_PACKET socket.
// Hosts and switches that cached the old member's address move to this
// one.
type announcer struct {
	fd    int
	links map[string]netlink.Link
	buf   [128]byte
}

func newAnnouncer() (*announcer, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	return &announcer{fd: fd, links: make(map[string]netlink.Link)}, nil
}

func (a *announcer) close() { unix.Close(a.fd) }

// announce sends one announcement of addr on ifname.
func (a *announcer) announce(ifname string, addr netip.Addr) error {
	l, ok := a.links[ifname]
	if !ok {
		var err error
		if l, err = netlink.LinkByName(ifname); err != nil {
			return fmt.Errorf("announcing %v on %s: %w", addr, ifname, err)
		}
		a.links[ifname] = l
	}
	var hw [6]byte
	copy(hw[:], l.Attrs().HardwareAddr)
	var n int
	if addr.Is4() {
		n = packet.BuildGratuitousARP(a.buf[:], 0, hw, addr.As4())
	} else {
		t := addr.As16()
		n = packet.BuildUnsolicitedNA(a.buf[:], 0, hw, t, t, true)
	}
	if n == 0 {
		return fmt.Errorf("announcing %v on %s: frame did not fit", addr, ifname)
	}
	to := &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(a.fd, a.buf[:n], 0, to); err != nil {
		return fmt.Errorf("announcing %v on %s: %w", addr, ifname, err)
	}
	return nil
}
