package syncpath

import (
	"errors"
	"fmt"
	"time"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// ErrConfig is wrapped by New for an invalid Config.
var ErrConfig = errors.New("invalid sync session config")

// Config configures a Session between this member and one peer. Zero
// fields take the defaults said beside them.
type Config struct {
	Cluster uint16 // cluster id, 1..65535. Required.
	Self    uint8  // this member's id. Required.
	Peer    uint8  // the peer's id. Required.
	// Epoch is this member's boot epoch: it must be greater than any epoch
	// this member used before under the same keys (see docs/ccp.md).
	// Required.
	Epoch uint32

	Keys      *ccp.Keyring     // cluster keys. Required.
	Transport Transport        // datagrams to and from the peer. Required.
	Table     *conntrack.Table // the local table: snapshots are read from it, the peer's records applied to it. Required.
	// Sink holds the records this member sends to the peer (the table's
	// Config.Records). nil: this member sends no deltas.
	Sink  *Sink
	Clock clock.Clock // default clock.NewReal()

	MTU  int  // sync link MTU (default 1500); frames are sized to it
	IPv6 bool // the sync link is IPv6 (20 bytes less per frame)

	// Window is the retransmit window: frames sent and not yet acked, and
	// how far ahead of its cumulative ack a receiver tracks the stream.
	// A multiple of 64 (default 1024). Both members must agree.
	Window int
	// Batch is how many datagrams one Receive asks for (default 64).
	Batch int
	// DrainBatch bounds the records taken from the sink per Poll (default 8192).
	DrainBatch int

	HeartbeatInterval time.Duration // default 100ms
	PeerTimeout       time.Duration // no frame for this long: peer down (default 1s)
	// AckInterval is the most often an ACK frame is sent while frames
	// keep arriving (see AckIdle), and the longest received data waits
	// for one (default 2ms). Acks ride on data frames
	// and heartbeats when there are any.
	AckInterval time.Duration
	// AckIdle: when a Poll has taken every frame there was to receive,
	// the ack goes as soon as this much has passed since the last one,
	// without waiting for AckInterval (default 250µs; negative: off).
	// It bounds the ack rate of a lightly loaded link (4,000 a second at
	// most) and takes most of AckInterval out of the sync lag.
	AckIdle time.Duration
	// RetransmitTimeout resends a frame not acked after it (default 50ms).
	RetransmitTimeout time.Duration
	// NackHoldoff ignores a nack of a frame sent or resent less than this
	// ago: it crossed the retransmission on the wire (default 5ms).
	NackHoldoff time.Duration
	// GapTimeout: a receiver missing a frame this long asks for a full
	// sync (default 2s).
	GapTimeout time.Duration
	// FullSyncRetry is how often a full-sync request is repeated until the
	// snapshot starts (default 250ms).
	FullSyncRetry time.Duration
	// ChunkSlots is how many table slots one RangeFrom call walks (default 256).
	ChunkSlots int

	// Delay is the delayed-notification delay: a connection younger than
	// this is not synced, and one that ends before then costs nothing
	// (default 3s; negative: off, every record is sent at once).
	Delay time.Duration

	// MaxBandwidth limits data frames to this many bytes a second
	// (sync_max_bandwidth; 0: unlimited). Session.SetBandwidth changes it
	// at run time.
	MaxBandwidth int64

	Role     ccp.Role // announced in heartbeats
	Priority uint8    // announced in heartbeats
}

func (c *Config) setDefaults() error {
	switch {
	case c.Cluster == 0:
		return fmt.Errorf("%w: cluster id 0", ErrConfig)
	case c.Self == 0 || c.Peer == 0 || c.Self == c.Peer:
		return fmt.Errorf("%w: member ids self %d, peer %d", ErrConfig, c.Self, c.Peer)
	case c.Epoch == 0:
		return fmt.Errorf("%w: epoch 0", ErrConfig)
	case c.Keys == nil || c.Transport == nil || c.Table == nil:
		return fmt.Errorf("%w: keys, transport and table are required", ErrConfig)
	}
	if c.Clock == nil {
		c.Clock = clock.NewReal()
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if ccp.MaxFrameSize(c.MTU, c.IPv6) < ccp.Overhead+ccp.FullSyncDoneSize+ccp.MaxConnRecord {
		return fmt.Errorf("%w: mtu %d too small", ErrConfig, c.MTU)
	}
	if c.Window == 0 {
		c.Window = 1024
	}
	if c.Window < 64 || c.Window%64 != 0 {
		return fmt.Errorf("%w: window %d is not a multiple of 64", ErrConfig, c.Window)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Batch, 64)
	def(&c.DrainBatch, 8192)
	def(&c.ChunkSlots, 256)
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&c.HeartbeatInterval, 100*time.Millisecond)
	defd(&c.PeerTimeout, time.Second)
	defd(&c.AckInterval, 2*time.Millisecond)
	if c.AckIdle == 0 {
		c.AckIdle = 250 * time.Microsecond
	}
	defd(&c.RetransmitTimeout, 50*time.Millisecond)
	defd(&c.NackHoldoff, 5*time.Millisecond)
	defd(&c.GapTimeout, 2*time.Second)
	defd(&c.FullSyncRetry, 250*time.Millisecond)
	if c.Delay == 0 {
		c.Delay = 3 * time.Second
	}
	return nil
}
