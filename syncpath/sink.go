package syncpath

import (
	"fmt"
	"sync/atomic"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/ring"
)

// Sink is the conntrack.RecordSink the dataplane emits delta records into
// (Config.Records of the table), and the sync worker drains.
//
// Enqueue never blocks. When the ring is full the record is dropped and
// counted, and what happens next depends on the record:
//
//   - a New or Update: conntrack sees Enqueue return false and marks the
//     entry dirty, and its Sweep re-emits the entry at its current version,
//     so nothing is lost for good and no full sync is needed;
//   - a Delete: the entry is gone, nothing can re-emit it, and the backup
//     would keep a connection the active no longer has. The sink marks that
//     a full sync is needed; the session starts one (its snapshot, followed
//     by the backup's removal of entries the snapshot lacks, deletes the
//     stale copy).
//
// Enqueue is safe for concurrent use by every dataplane worker; draining
// belongs to the sync worker.
type Sink struct {
	r *ring.MPSC[conntrack.Record]

	overflow        atomic.Uint64 // records dropped because the ring was full
	overflowDeletes atomic.Uint64 // of which deletes
	needFull        atomic.Bool   // a delete was lost: a full sync is needed
}

var _ conntrack.RecordSink = (*Sink)(nil)

// NewSink returns a sink over a ring of the given capacity (a power of two).
func NewSink(capacity int) (*Sink, error) {
	r, err := ring.NewMPSC[conntrack.Record](capacity)
	if err != nil {
		return nil, fmt.Errorf("creating sync record ring: %w", err)
	}
	return &Sink{r: r}, nil
}

// Enqueue implements conntrack.RecordSink.
func (s *Sink) Enqueue(r conntrack.Record) bool {
	if s.r.Enqueue(r) {
		return true
	}
	s.overflow.Add(1)
	if r.Op == conntrack.OpDelete {
		s.overflowDeletes.Add(1)
		s.needFull.Store(true)
	}
	return false
}

// drain moves up to len(out) records into out and returns how many.
// Precondition: called by the sync worker.
func (s *Sink) drain(out []conntrack.Record) int { return s.r.DequeueBatch(out) }

// Len returns the records waiting in the ring (a hint).
func (s *Sink) Len() int { return s.r.Len() }

// Cap returns the ring's capacity.
func (s *Sink) Cap() int { return s.r.Cap() }

// Overflow returns how many records were dropped because the ring was full,
// and how many of them were deletes.
func (s *Sink) Overflow() (records, deletes uint64) {
	return s.overflow.Load(), s.overflowDeletes.Load()
}

// takeFullSync reports whether a full sync is needed since the last call,
// and clears the mark.
func (s *Sink) takeFullSync() bool { return s.needFull.Swap(false) }
