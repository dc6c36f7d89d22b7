package dataplane

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// rawSender hands IP packets to the gateway's kernel for it to route and
// send, through raw sockets with the header included. Safe for concurrent
// use (sendto on one socket from several threads is).
type rawSender struct {
	fd4, fd6 int
}

// newRawSender opens the raw sockets in the calling thread's namespace.
func newRawSender() (*rawSender, error) {
	fd4, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("opening raw IPv4 socket: %w", err)
	}
	fd6, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		unix.Close(fd4)
		return nil, fmt.Errorf("opening raw IPv6 socket: %w", err)
	}
	// IPPROTO_RAW implies IP_HDRINCL for IPv4; IPv6 needs it said.
	if err := unix.SetsockoptInt(fd6, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1); err != nil {
		unix.Close(fd4)
		unix.Close(fd6)
		return nil, fmt.Errorf("setting IPV6_HDRINCL: %w", err)
	}
	return &rawSender{fd4: fd4, fd6: fd6}, nil
}

// send gives the kernel the IP packet pkt for destination dst (v4-mapped
// for IPv4). It is for the rare packet whose next hop is unresolved; it
// allocates (the socket address).
func (r *rawSender) send(family uint8, pkt []byte, dst [16]byte) bool {
	if r == nil {
		return false
	}
	var err error
	if family == 4 {
		err = unix.Sendto(r.fd4, pkt, unix.MSG_DONTWAIT, &unix.SockaddrInet4{Addr: [4]byte(dst[12:])})
	} else {
		err = unix.Sendto(r.fd6, pkt, unix.MSG_DONTWAIT, &unix.SockaddrInet6{Addr: dst})
	}
	return err == nil
}

func (r *rawSender) close() error {
	if r == nil {
		return nil
	}
	return errors.Join(unix.Close(r.fd4), unix.Close(r.fd6))
}
