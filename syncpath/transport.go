package syncpath

import (
	"errors"
	"time"
)

// ErrClosed is returned by a Transport used after Close.
var ErrClosed = errors.New("syncpath: transport closed")

// Transport carries CCP frames, one frame per datagram, between the members
// of a cluster. Peers are named by member id; the transport maps ids to
// addresses. A Transport is used by one goroutine (the sync worker), except
// Close, which may be called from any goroutine.
type Transport interface {
	// Send sends one datagram to member peer. b is not retained.
	Send(peer uint8, b []byte) error
	// Receive copies up to len(bufs) received datagrams into the
	// caller-owned bufs, sets sizes[i] to each one's length and returns
	// how many it received: 0 when nothing arrived within the transport's
	// poll interval (synctest never waits). A datagram longer than its
	// buffer is truncated (the Opener then rejects it).
	Receive(bufs [][]byte, sizes []int) (int, error)
	// Close releases the transport; Send and Receive then return ErrClosed.
	Close() error
}

// ReceiveWaiter is a Transport whose wait for datagrams can be bounded
// call by call (the kernel's UDP socket and AF_XDP implement it; synctest
// never waits). ReceiveWithin is Receive waiting at most wait when nothing
// is there: 0 does not wait, and the wait is rounded down to whole
// milliseconds (poll(2)'s unit), so a wait below one does not wait either.
//
// A session bounds the wait by what it has to do next: an ack due in
// AckIdle, records waiting to be sent. With the transport's whole poll
// interval (1 ms) instead, a backup that has just received a frame
// sleeps in poll until the next one comes or the interval ends before it
// acks, and the active, waiting for that ack, sends nothing meanwhile: a
// ping-pong that put the lag's median at 1.2 ms at 100K connections/s.
type ReceiveWaiter interface {
	ReceiveWithin(bufs [][]byte, sizes []int, wait time.Duration) (int, error)
}
