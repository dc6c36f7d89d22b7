package conntrack

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tandem-gw/tandem/internal/clock"
)

// Timeouts are the idle timeouts per state. A connection expires when no
// packet refreshed it for its state's timeout.
type Timeouts struct {
	SynSent     time.Duration
	SynRecv     time.Duration
	Established time.Duration
	FinWait     time.Duration
	CloseWait   time.Duration
	LastAck     time.Duration
	TimeWait    time.Duration
	Close       time.Duration
	UDP         time.Duration // unreplied UDP
	UDPStream   time.Duration // UDP seen in both directions
	ICMP        time.Duration
	Generic     time.Duration
	// Tombstone is how long a backup keeps a deleted connection's key and
	// version so that a late, older record cannot resurrect it. It must
	// outlast the sync path's retransmit window.
	Tombstone time.Duration
}

// DefaultTimeouts are the product defaults. They are netfilter's, except
// Established: netfilter keeps an idle established TCP connection for 5
// days; Tandem uses 12 hours, which keeps a full table from filling with
// dead connections while still outliving idle SSH and database sessions.
// UDP follows netfilter (30 s unreplied, 120 s stream-like), ICMP 30 s.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		SynSent:     2 * time.Minute,
		SynRecv:     60 * time.Second,
		Established: 12 * time.Hour,
		FinWait:     2 * time.Minute,
		CloseWait:   60 * time.Second,
		LastAck:     30 * time.Second,
		TimeWait:    2 * time.Minute,
		Close:       10 * time.Second,
		UDP:         30 * time.Second,
		UDPStream:   120 * time.Second,
		ICMP:        30 * time.Second,
		Generic:     600 * time.Second,
		Tombstone:   60 * time.Second,
	}
}

// FullPolicy says what happens to a new connection when the table is full.
type FullPolicy uint8

const (
	// FullEvictEmbryonic (the default) scans a few entries for one that has
	// expired or, failing that, the embryonic (unanswered) connection with
	// the earliest expiry among them, evicts it and inserts the new one. When
	// the scan finds no victim the new connection is dropped. Counted in
	// Stats.Evicted and Stats.DropFull.
	FullEvictEmbryonic FullPolicy = iota
	// FullDropNew drops the new connection and counts it in Stats.DropFull.
	FullDropNew
)

// SNATPool is a source NAT pool: addresses × a port range. The allocator
// picks (address, port) so that the translated reply tuple is unique in the
// table.
type SNATPool struct {
	Addrs            []netip.Addr
	PortMin, PortMax uint16
	// PreservePort tries the client's own source port first. Off, the port
	// is picked from a keyed hash of the connection, so it does not leak
	// the client's port (and a failover test cannot pass by luck).
	PreservePort bool
}

// DNATRule forwards connections to Addr:Port (protocol Proto) to one of the
// To addresses, port ToPortMin..ToPortMax (0: keep the original port).
type DNATRule struct {
	Proto                uint8
	Addr                 netip.Addr
	Port                 uint16
	To                   []netip.Addr
	ToPortMin, ToPortMax uint16
}

// RecordSink receives delta records. *ring.MPSC[Record] satisfies it; it
// must be safe for concurrent Enqueue because every shard writer emits.
// Enqueue returns false when full: the table counts it and marks the entry
// dirty (see Table.Sweep).
type RecordSink interface {
	Enqueue(r Record) bool
}

// Config configures a Table. Zero fields take the defaults said beside them.
type Config struct {
	// MaxEntries is the fixed budget: the table preallocates exactly this
	// many entries and never grows. Required.
	MaxEntries int
	// Shards is the number of writer shards, a power of two (default 64).
	Shards int
	// Timeouts per state; the zero value means DefaultTimeouts.
	Timeouts Timeouts
	// WhenFull picks drop-new or evict-embryonic (default evict-embryonic).
	WhenFull FullPolicy
	// EvictScan is how many entries the eviction scan looks at (default 64).
	EvictScan int
	// TCPPickup lets a TCP packet other than a SYN create an entry
	// (mid-stream pickup, netfilter's tcp_loose). Off by default: it would
	// let unsolicited packets create state.
	TCPPickup bool
	// TCPLiberal skips the sequence/window checks (netfilter's be_liberal).
	TCPLiberal bool
	// Self is this member's id, the owner of connections it creates.
	Self uint8
	// Clock drives timeouts and aging (default: clock.NewReal()).
	Clock clock.Clock
	// Records receives delta records; nil emits none.
	Records RecordSink
	// SNAT pools and DNAT rules, referred to by index in NATRequest.
	SNAT []SNATPool
	DNAT []DNATRule
	// NATMaxProbes bounds the candidates tried per allocation (default 256).
	NATMaxProbes int
	// Seed keys the hash; 0 picks a random one. Tests may fix it.
	Seed uint64
}

func (c *Config) setDefaults() error {
	if c.MaxEntries <= 0 {
		return fmt.Errorf("max entries %d: %w", c.MaxEntries, ErrConfig)
	}
	if c.MaxEntries > maxEntries {
		return fmt.Errorf("max entries %d above %d: %w", c.MaxEntries, maxEntries, ErrConfig)
	}
	if c.Shards == 0 {
		c.Shards = 64
	}
	if c.Shards < 1 || c.Shards&(c.Shards-1) != 0 || c.Shards > 1<<12 {
		return fmt.Errorf("shards %d not a power of two in 1..4096: %w", c.Shards, ErrConfig)
	}
	if c.Timeouts == (Timeouts{}) {
		c.Timeouts = DefaultTimeouts()
	}
	if c.EvictScan <= 0 {
		c.EvictScan = 64
	}
	if c.NATMaxProbes <= 0 {
		c.NATMaxProbes = 256
	}
	if c.Clock == nil {
		c.Clock = clock.NewReal()
	}
	for i, p := range c.SNAT {
		if len(p.Addrs) == 0 || p.PortMin == 0 || p.PortMax < p.PortMin {
			return fmt.Errorf("snat pool %d: need addresses and 0 < port min <= port max: %w", i, ErrConfig)
		}
	}
	for i, r := range c.DNAT {
		if len(r.To) == 0 || !r.Addr.IsValid() || r.ToPortMax < r.ToPortMin {
			return fmt.Errorf("dnat rule %d: need a match address and targets: %w", i, ErrConfig)
		}
	}
	if len(c.SNAT) > 256 || len(c.DNAT) > 256 {
		return fmt.Errorf("more than 256 snat pools or dnat rules: %w", ErrConfig)
	}
	return nil
}

// timeout returns the idle timeout of state s in nanoseconds.
func (t *Timeouts) timeout(s State) int64 {
	var d time.Duration
	switch s {
	case StateSynSent, StateSynSent2:
		d = t.SynSent
	case StateSynRecv:
		d = t.SynRecv
	case StateEstablished:
		d = t.Established
	case StateFinWait:
		d = t.FinWait
	case StateCloseWait:
		d = t.CloseWait
	case StateLastAck:
		d = t.LastAck
	case StateTimeWait:
		d = t.TimeWait
	case StateClose:
		d = t.Close
	case StateUDPUnreplied:
		d = t.UDP
	case StateUDPReplied:
		d = t.UDPStream
	case StateICMP:
		d = t.ICMP
	default:
		d = t.Generic
	}
	return int64(d)
}
