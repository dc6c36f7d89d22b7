package syncpath

import (
	"sync/atomic"

	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// Counters are a session's figures, for `tandemctl syncstat`. Counts are
// cumulative since New; gauges (QueueDepth, InFlight, PeerAlive, RTT) are
// as of the last Poll.
type Counters struct {
	FramesSent, FramesReceived   uint64 // datagrams sealed and sent / opened and accepted
	RecordsSent, RecordsReceived uint64 // connection records in DELTA and FULLSYNC_CHUNK frames (retransmissions included)
	BytesSent, BytesReceived     uint64 // datagram bytes
	HeartbeatsSent               uint64
	HeartbeatsReceived           uint64
	AcksSent, AcksReceived       uint64 // ACK frames
	NacksSent, NacksReceived     uint64 // nack ranges in ACK frames
	Retransmits                  uint64 // frames resent (on nack or timeout)
	TimeoutRetransmits           uint64 // of which on timeout
	Abandoned                    uint64 // unacked frames dropped from the window when a full sync superseded them
	Coalesced                    uint64 // records merged into a waiting record of the same connection
	Suppressed                   uint64 // connections that ended within the notification delay: never sent
	WindowStalls                 uint64 // polls that had data to send and a full window
	BandwidthStalls              uint64 // polls that had data to send and no bandwidth tokens
	DuplicateData                uint64 // reliable bodies received again
	SendErrors                   uint64 // Transport.Send failures

	Rejected  ccp.Counters // frames refused by the Opener, by reason (and Opened)
	Malformed uint64       // authenticated frames whose body did not decode
	Foreign   uint64       // authenticated frames from a member other than the peer

	Applied, ApplyStale, ApplyConflict, ApplyFull uint64 // results of applying the peer's records

	SinkOverflow, SinkOverflowDeletes uint64 // records the full ring refused (deletes among them)
	QueueDepth                        int    // records in the ring, held by the notification delay, and waiting to be packed
	InFlight                          int    // frames sent and not acked

	FullSyncsStarted  uint64 // snapshots this member began streaming
	FullSyncsSent     uint64 // of which completed (FULLSYNC_DONE acked)
	FullSyncNanos     uint64 // duration of the last completed one, start to DONE acked
	FullSyncsReceived uint64 // snapshots this member completed receiving
	FullSyncRecvNanos uint64 // duration of the last, request (or first chunk) to DONE
	FullSyncRequests  uint64 // FULLSYNC_REQUEST frames sent
	FullSyncsAsked    uint64 // FULLSYNC_REQUEST frames received
	StaleRemoved      uint64 // backup entries a full sync showed the peer no longer has
	PeerRestarts      uint64 // new boot epochs seen from the peer
	PeerAlive         bool
	RTT               int64 // last heartbeat round trip, ns
}

// counters is the worker's side of Counters: atomics, so that Counters may
// be read from any goroutine while the worker adds (relaxed: every figure
// is independent).
type counters struct {
	framesSent, framesReceived   atomic.Uint64
	recordsSent, recordsReceived atomic.Uint64
	bytesSent, bytesReceived     atomic.Uint64
	hbSent, hbReceived           atomic.Uint64
	acksSent, acksReceived       atomic.Uint64
	nacksSent, nacksReceived     atomic.Uint64
	retransmits, rtoRetransmits  atomic.Uint64
	abandoned, coalesced         atomic.Uint64
	windowStalls, dupData        atomic.Uint64
	bandwidthStalls              atomic.Uint64
	sendErrors, suppressed       atomic.Uint64
	malformed, foreign           atomic.Uint64
	applied, stale               atomic.Uint64
	conflict, full               atomic.Uint64
	queueDepth, inFlight         atomic.Int64
	fsStarted, fsSent            atomic.Uint64
	fsNanos, fsReceived          atomic.Uint64
	fsRecvNanos, fsRequests      atomic.Uint64
	fsAsked, staleRemoved        atomic.Uint64
	peerRestarts                 atomic.Uint64
	peerAlive                    atomic.Bool
	rtt                          atomic.Int64
}
