package syncpath

import "errors"

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
