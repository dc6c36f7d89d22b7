package conntrack

// Outcome counters, kept per shard (so writers on different shards do not
// share a cache line) and summed by Stats.
const (
	cInserted      = iota // entries created (kept in shard.inserted)
	cRemoved              // entries removed (kept in shard.removed)
	cExpired              // removed by Sweep because their timeout passed
	cEvicted              // embryonic entries evicted to make room
	cDropFull             // new connections dropped: table full
	cDropInvalid          // packets failing the state machine or window check
	cDropNoPickup         // non-SYN TCP packets of unknown connections (pickup off)
	cDropNAT              // new connections dropped: NAT pool exhausted
	cRecords              // records enqueued
	cRecordsLost          // records the sink refused (entry marked dirty)
	cDeletesLost          // delete records the sink refused (cannot be retried)
	cApplied              // records applied
	cApplyStale           // records ignored: duplicate or older version
	cApplyConflict        // records refused: NAT reply tuple taken by another entry
	cApplyFull            // records refused: table full
	cPromoted             // entries promoted by PromoteOwner
	cRelearned            // segments of promoted connections accepted while relearning their windows
	numCounters
)

// Stats are the table's cumulative outcome counters.
type Stats struct {
	Inserted, Removed, Expired, Evicted uint64
	DropFull, DropInvalid, DropNoPickup uint64
	DropNAT                             uint64
	Records, RecordsLost, DeletesLost   uint64
	Applied, ApplyStale, ApplyConflict  uint64
	ApplyFull, Promoted, Relearned      uint64
	Live                                int
}

// Stats sums the per-shard counters. The sums are not a consistent
// snapshot across shards.
func (t *Table) Stats() Stats {
	var c [numCounters]uint64
	for i := range t.shards {
		s := &t.shards[i]
		for j := range c {
			c[j] += s.stats[j].Load()
		}
		s.mu.Lock()
		c[cInserted] += s.inserted
		c[cRemoved] += s.removed
		s.mu.Unlock()
	}
	return Stats{
		Inserted: c[cInserted], Removed: c[cRemoved], Expired: c[cExpired], Evicted: c[cEvicted],
		DropFull: c[cDropFull], DropInvalid: c[cDropInvalid], DropNoPickup: c[cDropNoPickup],
		DropNAT: c[cDropNAT], Records: c[cRecords], RecordsLost: c[cRecordsLost],
		DeletesLost: c[cDeletesLost], Applied: c[cApplied], ApplyStale: c[cApplyStale],
		ApplyConflict: c[cApplyConflict], ApplyFull: c[cApplyFull], Promoted: c[cPromoted],
		Relearned: c[cRelearned], Live: t.Len(),
	}
}

func (t *Table) count(h uint64, c int) {
	t.shards[t.shardOf(t.bucketOf(h))].stats[c].Add(1)
}
