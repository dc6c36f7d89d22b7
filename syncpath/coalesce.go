package syncpath

import "github.com/tandem-gw/tandem/dataplane/conntrack"

// coalescer holds the records waiting to be sent, at most one per
// connection key: a later record of a key replaces the waiting one if its
// version is newer (newest version wins). A key whose waiting records
// included a New or a Delete is urgent and leaves before refreshes.
//
// It is also the full-sync changelog: while a snapshot streams, nothing is
// taken from it, so every change made meanwhile waits here, coalesced, and
// is replayed after FULLSYNC_DONE.
//
// Its map and slice grow to the largest number of distinct keys waiting at
// once and are reused after that: adding and taking allocate nothing after
// warm-up. Not safe for concurrent use (the sync worker's).
type coalescer struct {
	idx  map[conntrack.Key]int32
	recs []pending
	// next index to take, in the urgent pass (pass 0) then the refresh
	// pass (pass 1)
	pass, next int
	live       int // records not yet taken
}

type pending struct {
	rec    conntrack.Record
	since  int64 // when the first of the coalesced records was drained
	urgent bool
	taken  bool
}

func newCoalescer(capacity int) *coalescer {
	return &coalescer{
		idx:  make(map[conntrack.Key]int32, capacity),
		recs: make([]pending, 0, capacity),
	}
}

// add queues r, drained at time now. It reports whether r merged into a
// waiting record of the same key.
func (c *coalescer) add(r *conntrack.Record, now int64, coalesce bool) bool {
	urgent := r.Op != conntrack.OpUpdate
	if coalesce {
		if i, ok := c.idx[r.Key]; ok {
			p := &c.recs[i]
			if !p.taken {
				if r.Version > p.rec.Version {
					p.rec = *r
				}
				if urgent && !p.urgent {
					p.urgent = true
					// an urgent record found late in the refresh pass
					// is still taken: the pass order is a preference.
				}
				return true
			}
		}
	}
	if len(c.recs) == cap(c.recs) && len(c.recs) >= 2*c.live+64 {
		c.compact() // mostly taken: reuse the room instead of growing
	}
	c.recs = append(c.recs, pending{rec: *r, since: now, urgent: urgent})
	if coalesce {
		c.idx[r.Key] = int32(len(c.recs) - 1)
	}
	c.live++
	return false
}

// waiting reports whether a record of key k waits to be sent.
func (c *coalescer) waiting(k conntrack.Key) bool {
	i, ok := c.idx[k]
	return ok && !c.recs[i].taken
}

// len returns the records waiting.
func (c *coalescer) len() int { return c.live }

// peek returns the next record to send (urgent ones first) without taking
// it, or nil when none waits.
func (c *coalescer) peek() *pending {
	if c.live == 0 {
		return nil
	}
	for c.pass < 2 {
		for c.next < len(c.recs) {
			p := &c.recs[c.next]
			if !p.taken && p.urgent == (c.pass == 0) {
				return p
			}
			c.next++
		}
		c.pass++
		c.next = 0
		if c.pass == 2 && c.live > 0 {
			c.compact() // records added behind the passes
		}
	}
	return nil
}

// compact drops taken records and restarts the passes.
func (c *coalescer) compact() {
	clear(c.idx)
	j := 0
	for i := range c.recs {
		if !c.recs[i].taken {
			c.recs[j] = c.recs[i]
			c.idx[c.recs[j].rec.Key] = int32(j)
			j++
		}
	}
	c.recs = c.recs[:j]
	c.pass, c.next = 0, 0
}

// take marks the record peek returned as sent.
func (c *coalescer) take(p *pending) {
	p.taken = true
	c.live--
	if c.live == 0 {
		c.reset()
	}
}

// reset forgets everything, keeping the memory.
func (c *coalescer) reset() {
	clear(c.idx)
	c.recs = c.recs[:0]
	c.pass, c.next, c.live = 0, 0, 0
}
