package conntrack

import "encoding/binary"

// ApplyResult is the outcome of Apply.
type ApplyResult uint8

const (
	Applied       ApplyResult = iota // the record is now the entry's state
	ApplyStale                       // duplicate or older version: ignored
	ApplyConflict                    // the key or NAT reply tuple belongs to another connection
	ApplyFull                        // no room for a new entry
)

func (a ApplyResult) String() string {
	return [...]string{"applied", "stale", "conflict", "full"}[a&3]
}

// Apply installs a peer's record as backup state: what a backup does with
// every record it receives, in any order, any number of times.
//
// It is idempotent and version-ordered: a record whose version is not above
// the entry's is ignored (ApplyStale), so duplicates, retransmits and
// reordered older records never overwrite newer state. A Delete leaves a
// tombstone (key and version, no NAT tuple) for Timeouts.Tombstone, so an
// older New or Update arriving late cannot resurrect the connection. A
// record carries the owner: entries from a peer keep owner != Self until
// PromoteOwner. Apply never emits records. Apply calls are serialised by
// an internal mutex (a sync receiver is one goroutine anyway); they run
// concurrently with lookups and traffic. ApplyBatch applies a frame's
// records at a lower cost per record.
func (t *Table) Apply(r Record) ApplyResult {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	t.raiseFloor(r.Version)
	kw := r.Key.words()
	h := kw.hash(t.seed)
	res := t.applyRecord(&r, &kw, h, t.clk.Now())
	t.shards[t.shardOf(t.bucketOf(h))].stats[applyCounter[res&3]].Add(1)
	return res
}

// applyCounter is the outcome counter of each ApplyResult.
var applyCounter = [4]int{Applied: cApplied, ApplyStale: cApplyStale, ApplyConflict: cApplyConflict, ApplyFull: cApplyFull}

// applyStride is how many records ApplyBatch stages at a time.
const applyStride = 16

// ApplyBatch applies recs[i] into res[i] (len(res) >= len(recs)), in
// order: the outcome of every record, and the table after the batch, are
// those of calling Apply on each record in turn (with the clock read once).
// It is Apply for a received
// frame, cheaper per record: it takes Apply's mutex, raises the version
// floor and reads the clock once for the batch, and adds its outcome
// counters once; and it stages the records 16 at a time, hashing their keys
// (and NAT reply tuples), then loading their bucket heads, then touching
// the entries they will read or fill (chain heads, free entries), before
// applying any, so that the cache misses of different records overlap
// instead of queueing one behind the other. Allocation-free.
func (t *Table) ApplyBatch(recs []Record, res []ApplyResult) {
	res = res[:len(recs)]
	if len(recs) == 0 {
		return
	}
	var vmax uint64
	for i := range recs {
		vmax = max(vmax, recs[i].Version)
	}
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	t.raiseFloor(vmax)
	now := t.clk.Now()
	var n [4]uint64 // by ApplyResult
	var kws [applyStride]kwords
	var hs [applyStride]uint64
	var heads, rheads [applyStride]uint32 // bucket indices, then their heads
	for base := 0; base < len(recs); base += applyStride {
		blk := recs[base:min(base+applyStride, len(recs))]
		// Hash everything first, then load: see Prefetch.
		for i := range blk {
			r := &blk[i]
			kws[i] = r.Key.words()
			hs[i] = kws[i].hash(t.seed)
			heads[i] = t.bucketOf(hs[i])
			rheads[i] = nullsBit
			if r.NAT != NATNone && r.Op != OpDelete {
				rw := replyWords(&kws[i], r.NAT, recNATAddr(r), r.NATPort)
				rheads[i] = t.bucketOf(rw.hash(t.seed))
			}
		}
		for i := range blk {
			heads[i] = t.buckets[heads[i]].Load()
			if rheads[i] != nullsBit {
				rheads[i] = t.buckets[rheads[i]].Load()
			}
		}
		// Touch both lines of each chain's first entry (a match's version
		// is on the second), the first entry of each reply chain (the
		// NAT collision check walks it), and as many free entries as
		// records found an empty chain (each will insert).
		free := 0
		for i := range blk {
			if h := heads[i]; h&nullsBit == 0 {
				e := &t.entries[h>>1]
				e.gen.Load()
				e.version.Load()
			} else {
				free++
			}
			if h := rheads[i]; h&nullsBit == 0 {
				t.entries[h>>1].gen.Load()
			}
		}
		t.prefetchFree(free)
		for i := range blk {
			a := t.applyRecord(&blk[i], &kws[i], hs[i], now)
			res[base+i] = a
			n[a&3]++
		}
	}
	// The outcome counters are summed over shards (Stats): add the batch's
	// to one shard.
	st := &t.shards[t.shardOf(t.bucketOf(hs[0]))].stats
	for a, c := range n {
		if c != 0 {
			st[applyCounter[a]].Add(c)
		}
	}
}

// raiseFloor raises vfloor to v if it is below. Newer versions this table
// makes start above it (newVersion). Lock-free (CAS loop); Apply's mutex
// is held anyway.
func (t *Table) raiseFloor(v uint64) {
	for f := t.vfloor.Load(); v > f && !t.vfloor.CompareAndSwap(f, v); f = t.vfloor.Load() {
	}
}

// prefetchFree touches both cache lines of the first k entries on the
// calling processor's free lane, which the next inserts on this processor
// pop and fill. It walks the stack without popping, with atomic loads
// only: a concurrent pop or push can divert the walk into another stack or
// a bucket chain, which costs a useless touch and nothing else, and a
// nulls value (a chain's end, or freeEnd) ends it.
func (t *Table) prefetchFree(k int) {
	n := uint32(t.free[procLane()].head.Load())
	for ; k > 0 && n&nullsBit == 0; k-- {
		e := &t.entries[n>>1]
		e.expires.Load()
		n = e.next[0].Load()
	}
}

// applyRecord applies r (whose key words are kw and hash h) at clock time
// now and returns the outcome, uncounted. Precondition: applyMu held, and
// vfloor raised to r.Version.
func (t *Table) applyRecord(r *Record, kw *kwords, h uint64, now int64) ApplyResult {
	for attempt := 0; attempt < 8; attempt++ {
		if res, done := t.applyOnce(r, kw, h, now); done {
			return res
		}
	}
	return ApplyConflict
}

func recNATAddr(r *Record) [2]uint64 {
	return [2]uint64{binary.LittleEndian.Uint64(r.NATAddr[:8]), binary.LittleEndian.Uint64(r.NATAddr[8:])}
}

// applyOnce tries once; done is false when a concurrent change means the
// caller should look again.
func (t *Table) applyOnce(r *Record, kw *kwords, h uint64, now int64) (ApplyResult, bool) {
	natAddr := recNATAddr(r)
	idx, gen, dir, ok := t.find(kw, h, true)
	if ok {
		if dir != DirOriginal {
			return ApplyConflict, true // another connection answers to this key
		}
		e := &t.entries[idx]
		if r.Version <= e.version.Load() {
			return ApplyStale, true
		}
		m := e.meta.Load()
		if r.Op != OpDelete && m&fTomb == 0 && metaNAT(m) == r.NAT && metaPort(m) == r.NATPort &&
			e.nat[0].Load() == natAddr[0] && e.nat[1].Load() == natAddr[1] {
			e.lock()
			if e.gen.Load() != gen {
				e.unlock()
				return 0, false
			}
			if r.Version <= e.version.Load() {
				e.unlock()
				return ApplyStale, true
			}
			m = e.meta.Load()
			if metaOwner(m) != r.Owner {
				// Ownership moved (a failover): traffic may still cross
				// this member while the neighbours move, with sequence
				// numbers its tracking never saw. Relearn, forgiving.
				m = m&^(fStrictOrig|fStrictReply) | fRelearn
			}
			m = withOwner(withState(m, r.State), r.Owner)&^(fSeenReply|fAssured|0xff<<mScaleShift|0xff<<mPoolShift) |
				recFlags(r) | uint64(r.WScale)<<mScaleShift | uint64(r.NATRule)<<mPoolShift
			e.meta.Store(m)
			e.version.Store(r.Version)
			e.expires.Store(now + int64(r.Timeout)*1e6)
			e.unlock()
			return Applied, true
		}
		// NAT changed, tombstone revived, or a delete: replace the entry.
		if !t.remove(Ref{idx, gen}, false, -1) {
			return 0, false
		}
	}
	nc := newConn{
		now:     now,
		state:   r.State,
		owner:   r.Owner,
		version: r.Version,
		flags:   recFlags(r) | fRelearn, // a replica: if traffic ever reaches it here, it is mid-failover
		scale:   uint64(r.WScale) << mScaleShift,
	}
	if r.Op == OpDelete {
		nc.flags |= fTomb
		nc.expires = now + int64(t.cfg.Timeouts.Tombstone)
	} else {
		nc.expires = now + int64(r.Timeout)*1e6
		if r.NAT != NATNone {
			nc.nat, nc.natIdx, nc.natAddr, nc.natPort, nc.fixed = r.NAT, r.NATRule, natAddr, r.NATPort, true
		}
	}
	switch _, out := t.insert(kw, h, &nc); out {
	case outOK:
		return Applied, true
	case outFull:
		return ApplyFull, true
	case outConflict, outNAT:
		return ApplyConflict, true
	}
	return 0, false
}

func recFlags(r *Record) uint64 {
	var f uint64
	if r.Flags&RecSeenReply != 0 {
		f |= fSeenReply
	}
	if r.Flags&RecAssured != 0 {
		f |= fAssured
	}
	return f
}

// PromoteOwner turns every connection owned by member from into one owned
// by member to, bumping each version. When to is this member (failover:
// the dead peer's connections become ours) each promoted connection emits
// an Update record, so the new backup learns the new owner. It walks the
// table without a table-wide lock, entry by entry, and returns how many
// it promoted. Promoted TCP entries lose their window tracking, which is
// stale if this member owned them before (a planned failover there and
// back): their first packet in each direction re-learns it (see Segment).
func (t *Table) PromoteOwner(from, to uint8) int {
	if from == to {
		return 0
	}
	now := t.clk.Now()
	n := 0
	for i := range t.entries {
		e := &t.entries[i]
		g := e.gen.Load()
		if g&1 == 0 {
			continue
		}
		if m := e.meta.Load(); metaOwner(m) != from || m&fTomb != 0 {
			continue
		}
		e.lock()
		m := e.meta.Load()
		if e.gen.Load() == g && metaOwner(m) == from && m&fTomb == 0 {
			// Window tracking this member kept from an earlier time as
			// the owner is stale (the sequence numbers moved on), and the
			// first segments after a takeover may belong to exchanges the
			// old owner saw: relearn it, forgiving (tcpInWindow).
			resetTCP(e)
			e.meta.Store(withOwner(m, to)&^(fStrictOrig|fStrictReply) | fRelearn)
			e.version.Add(1)
			if to == t.cfg.Self {
				e.synced.Store(0)
				t.emit(e, OpUpdate, now)
			}
			n++
		}
		e.unlock()
	}
	t.shards[0].stats[cPromoted].Add(uint64(n))
	return n
}
