package syncpath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// UDPConfig configures a UDPTransport.
type UDPConfig struct {
	// Local is the address to bind, normally the sync interface's address
	// and ccp.UDPPort.
	Local netip.AddrPort
	// Peers maps member ids to their sync addresses.
	Peers map[uint8]netip.AddrPort
	// Poll is how long Receive waits for a datagram (default 1ms).
	Poll time.Duration
}

// UDPTransport is the kernel UDP socket transport, for machines (and lab
// namespaces) without AF_XDP on the sync interface. Receive waits for one
// datagram, then takes those already queued without waiting, one recvfrom
// each (recvmmsg is left for later).
type UDPTransport struct {
	conn   *net.UDPConn
	raw    syscall.RawConn
	peers  [256]netip.AddrPort
	poll   time.Duration
	closed atomic.Bool

	// the non-blocking read Receive makes after the first datagram: made
	// once, so that calling it allocates nothing
	more    func(fd uintptr) bool
	moreBuf []byte
	moreN   int
}

var _ Transport = (*UDPTransport)(nil)

// ListenUDP binds a UDP socket on cfg.Local.
func ListenUDP(cfg UDPConfig) (*UDPTransport, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Local))
	if err != nil {
		return nil, fmt.Errorf("binding sync socket to %v: %w", cfg.Local, err)
	}
	t := &UDPTransport{conn: c, poll: cfg.Poll}
	if t.raw, err = c.SyscallConn(); err != nil {
		c.Close()
		return nil, fmt.Errorf("sync socket on %v: %w", cfg.Local, err)
	}
	t.more = func(fd uintptr) bool {
		n, err := unix.Read(int(fd), t.moreBuf) // the socket is non-blocking (Go sets O_NONBLOCK)
		if err != nil {
			n = -1
		}
		t.moreN = n
		return true // never wait for readiness
	}
	if t.poll <= 0 {
		t.poll = time.Millisecond
	}
	for id, ap := range cfg.Peers {
		t.peers[id] = ap
	}
	return t, nil
}

// LocalAddr returns the bound address (useful when Local had port 0).
func (t *UDPTransport) LocalAddr() netip.AddrPort {
	return t.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// SetPeer sets (or, with the zero AddrPort, removes) member id's address.
// Precondition: called by the goroutine that uses the transport.
func (t *UDPTransport) SetPeer(id uint8, ap netip.AddrPort) { t.peers[id] = ap }

// Send implements Transport.
func (t *UDPTransport) Send(peer uint8, b []byte) error {
	if t.closed.Load() {
		return ErrClosed
	}
	ap := t.peers[peer]
	if !ap.IsValid() {
		return fmt.Errorf("sending to member %d: no sync address configured", peer)
	}
	if _, err := t.conn.WriteToUDPAddrPort(b, ap); err != nil {
		return fmt.Errorf("sending to member %d at %v: %w", peer, ap, err)
	}
	return nil
}

// Receive implements Transport. It waits up to the poll interval for one
// datagram.
func (t *UDPTransport) Receive(bufs [][]byte, sizes []int) (int, error) {
	return t.ReceiveWithin(bufs, sizes, t.poll)
}

// ReceiveWithin implements ReceiveWaiter: Receive waiting at most wait
// (below a millisecond, a read that does not wait).
func (t *UDPTransport) ReceiveWithin(bufs [][]byte, sizes []int, wait time.Duration) (int, error) {
	if t.closed.Load() {
		return 0, ErrClosed
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	got := 0
	if wait >= time.Millisecond {
		if err := t.conn.SetReadDeadline(time.Now().Add(wait.Truncate(time.Millisecond))); err != nil {
			return 0, fmt.Errorf("setting sync socket deadline: %w", err)
		}
		n, _, err := t.conn.ReadFromUDPAddrPort(bufs[0])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, nil
			}
			if t.closed.Load() {
				return 0, ErrClosed
			}
			return 0, fmt.Errorf("receiving on sync socket: %w", err)
		}
		sizes[0] = n
		got = 1
	}
	// The rest (or, not waiting, all: a deadline in the past would fail
	// a read before it looked at the socket) by non-blocking reads.
	for got < len(bufs) {
		t.moreBuf = bufs[got]
		if err := t.raw.Read(t.more); err != nil || t.moreN < 0 {
			break
		}
		sizes[got] = min(t.moreN, len(bufs[got]))
		got++
	}
	t.moreBuf = nil
	return got, nil
}

// Close implements Transport.
func (t *UDPTransport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	return t.conn.Close()
}
