package api

import (
	"errors"
	"time"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// Backend is what the API needs from a running tandemd: exactly the reads
// and commands its handlers make. Every method is called from HTTP handler
// goroutines, concurrently with the dataplane and the sync worker, and
// must be safe for that: counters from atomics, commands handed to their
// owner.
type Backend interface {
	// Status describes the member. The server fills in Uptime.
	Status() Status
	// Members lists this member first, then its peers.
	Members() []Member
	// SyncStats returns each peer's raw session figures: Counters as
	// syncpath reads them, Lag and BandwidthLimit. The server subtracts
	// the reset baselines and fills BandwidthUsed and LastFullSync.
	SyncStats() []PeerSync
	// Sockets returns the kernel's statistics of every AF_XDP socket.
	Sockets() ([]Socket, error)
	// Workers returns the dataplane's counters; the server fills Drops.
	Workers() (Workers, error)
	// RangeConns walks up to n slots of the connection table from cursor
	// (conntrack.Table.RangeFrom).
	RangeConns(cursor uint32, n int, fn func(conntrack.Record) bool) (next uint32, done bool)
	// ConnClock is the connection table's clock (ns), for connection ages.
	ConnClock() int64
	// SetMaxBandwidth sets sync.max_bandwidth (bits per second, 0:
	// unlimited) on every session.
	SetMaxBandwidth(bitsPerSecond uint64) error
	// SetDelayedNotification sets sync.delayed_notification. A backend
	// that cannot change it at run time returns an error wrapping
	// ErrNotSupported.
	SetDelayedNotification(d time.Duration) error
	// Failover hands the active role to the peer (planned failover).
	// Errors wrapping ErrConflict mean the member is not in a state to
	// hand over (not active, no live peer, peer not synced).
	Failover() (FailoverResult, error)
}

// Errors a Backend returns for the server to map to status codes.
var (
	ErrNotSupported = errors.New("not supported by this tandemd")
	ErrConflict     = errors.New("not possible in the current state")
)
