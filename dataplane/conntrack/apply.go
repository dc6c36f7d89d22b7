package conntrack

import (
	"encoding/binary"
	"unsafe"
)

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
	var kw kwords
	kw.fromKey(&r.Key)
	h := kw.hash(t.seed)
	res := t.applyRecord(&r, &kw, h, t.clk.Now())
	t.count(h, applyCounter[res&3])
	return res
}

// applyCounter is the outcome counter of each ApplyResult.
var applyCounter = [4]int{Applied: cApplied, ApplyStale: cApplyStale, ApplyConflict: cApplyConflict, ApplyFull: cApplyFull}

// applyStride is how many records ApplyBatch stages at a time.
const applyStride = 16

// applyStage is a block of records ApplyBatch stages: their key words and
// hashes, their buckets and NAT reply buckets (nullsBit: none).
type applyStage struct {
	kws   [applyStride]kwords
	hs    [applyStride]uint64
	b, rb [applyStride]uint32
	free  int // records of the block that found an empty chain
}

// ApplyBatch applies recs[i] into res[i] (len(res) >= len(recs)), in
// order: the outcome of every record, and the table after the batch, are
// those of calling Apply on each record in turn (with the clock read once).
// It is Apply for a received frame, cheaper per record: it takes Apply's
// mutex, raises the version floor and reads the clock once for the batch,
// and adds its outcome counters once; and it works through the records 16
// at a time in a pipeline that prefetches the bucket heads (both
// directions') of the block after next and the entries of the next block
// (chain heads, free entries) while it applies this one, so that the
// cache misses of different records overlap instead of queueing one
// behind the other. Allocation-free.
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
	var st [3]applyStage
	nb := (len(recs) + applyStride - 1) / applyStride
	block := func(k int) []Record { return recs[k*applyStride : min((k+1)*applyStride, len(recs))] }
	t.stageBuckets(&st[0], block(0))
	h0 := st[0].hs[0]
	if nb > 1 {
		t.stageBuckets(&st[1], block(1))
	}
	t.stageEntries(&st[0], len(block(0)), 0)
	for k := 0; k < nb; k++ {
		s := &st[k%3]
		if k+2 < nb {
			t.stageBuckets(&st[(k+2)%3], block(k+2))
		}
		if k+1 < nb {
			// Block k has not popped its free entries yet: the walk
			// covers them first.
			t.stageEntries(&st[(k+1)%3], len(block(k+1)), s.free)
		}
		blk := block(k)
		for i := range blk {
			a := t.applyRecord(&blk[i], &s.kws[i], s.hs[i], now)
			res[k*applyStride+i] = a
			n[a&3]++
		}
	}
	// The outcome counters are summed over shards (Stats): add the batch's
	// to one, its first record's.
	c := &t.shards[t.shardOf(t.bucketOf(h0))].stats
	for a, v := range n {
		if v != 0 {
			c[applyCounter[a]].Add(v)
		}
	}
}

// stageBuckets hashes a block's keys (and NAT reply tuples) into s and
// prefetches their bucket heads. Hashing is one pass and prefetching
// another: see Prefetch.
func (t *Table) stageBuckets(s *applyStage, blk []Record) {
	for i := range blk {
		r := &blk[i]
		s.kws[i].fromKey(&r.Key)
		s.hs[i] = s.kws[i].hash(t.seed)
		s.b[i] = t.bucketOf(s.hs[i])
		s.rb[i] = nullsBit
		if r.NAT != NATNone && r.Op != OpDelete {
			var rw kwords
			replyWords(&rw, &s.kws[i], r.NAT, recNATAddr(r), r.NATPort)
			s.rb[i] = t.bucketOf(rw.hash(t.seed))
		}
	}
	for i := range blk {
		prefetch(unsafe.Pointer(&t.buckets[s.b[i]]))
		if s.rb[i] != nullsBit {
			prefetch(unsafe.Pointer(&t.buckets[s.rb[i]]))
		}
	}
}

// stageEntries loads the bucket heads of a staged block of n records and
// prefetches both lines of each chain's first entry (a match's version is
// on the second), the first entry of each reply chain (the NAT collision
// check walks it), and the free entries that the block's records which
// found an empty chain will pop, after the first skip (see prefetchFree).
// What it loads are hints, taken without locks (atomic loads, acquire): a
// head may have changed by the time the record is applied, which looks
// again, under the locks.
func (t *Table) stageEntries(s *applyStage, n, skip int) {
	s.free = 0
	for i := 0; i < n; i++ {
		if h := t.buckets[s.b[i]].Load(); h&nullsBit == 0 {
			e := &t.entries[h>>1]
			prefetch(unsafe.Pointer(e))
			prefetch(unsafe.Pointer(&e.nat))
		} else {
			s.free++
		}
		if s.rb[i] != nullsBit {
			if h := t.buckets[s.rb[i]].Load(); h&nullsBit == 0 {
				prefetch(unsafe.Pointer(&t.entries[h>>1]))
			}
		}
	}
	t.prefetchFree(skip, s.free)
}

// raiseFloor raises vfloor to v if it is below. Newer versions this table
// makes start above it (newVersion, which loads vfloor without a lock: the
// CAS is sequentially consistent). Apply's mutex is held anyway.
func (t *Table) raiseFloor(v uint64) {
	for f := t.vfloor.Load(); v > f && !t.vfloor.CompareAndSwap(f, v); f = t.vfloor.Load() {
	}
}

// prefetchFree brings both cache lines of k entries on the calling
// processor's free lane into the cache, after the first skip: the entries
// the next inserts on this processor pop and fill. It walks the stack
// without popping, loading each entry's link (first line) and prefetching
// its second line, with atomic loads only: a concurrent pop or push can
// divert the walk into another stack or a bucket chain, which costs
// useless prefetches and nothing else, and a nulls value (a chain's end,
// or freeEnd) ends it.
func (t *Table) prefetchFree(skip, k int) {
	n := uint32(t.free[procLane()].head.Load())
	for i := 0; i < skip+k && n&nullsBit == 0; i++ {
		e := &t.entries[n>>1]
		if i >= skip {
			prefetch(unsafe.Pointer(&e.nat))
		}
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

// recNATAddr is a record's NAT address as the two words an entry stores.
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
			t.countOwnerMove(metaOwner(m), r.Owner)
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

// countOwnerMove accounts for an entry's owner changing from from to to
// (see Table.ownerMoves). The entry's lock is held.
func (t *Table) countOwnerMove(from, to uint8) {
	switch self := t.cfg.Self; {
	case from == self && to != self:
		t.ownerMoves.Add(1)
	case from != self && to == self:
		t.ownerMoves.Add(-1)
	}
}

// PromoteOwner turns every connection owned by member from into one owned
// by member to, bumping each version. When to is this member (failover:
// the dead peer's connections become ours) each promoted connection emits
// an Update record, so the new backup learns the new owner. It walks the
// table without a table-wide lock, entry by entry, skipping the blocks
// never allocated as RangeFrom does (a takeover on a large, little-used
// table walked all of it: over a second under the race detector), and
// returns how many it promoted. Promoted TCP entries lose their window
// tracking, which is stale if this member owned them before (a planned
// failover there and back): their first packet in each direction
// re-learns it (see Segment).
func (t *Table) PromoteOwner(from, to uint8) int {
	if from == to {
		return 0
	}
	now := t.clk.Now()
	n := 0
	for i := 0; i < len(t.entries); i++ {
		if i&(usedBlock-1) == 0 && t.neverUsed(uint64(i)) {
			i |= usedBlock - 1
			continue
		}
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
			t.countOwnerMove(from, to)
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
