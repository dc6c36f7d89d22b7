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
// concurrently with lookups and traffic.
func (t *Table) Apply(r Record) ApplyResult {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	for v := t.vfloor.Load(); r.Version > v && !t.vfloor.CompareAndSwap(v, r.Version); v = t.vfloor.Load() {
	}
	kw := r.Key.words()
	h := kw.hash(t.seed)
	for attempt := 0; attempt < 8; attempt++ {
		res, done := t.applyOnce(&r, &kw, h)
		if done {
			switch res {
			case Applied:
				t.count(h, cApplied)
			case ApplyStale:
				t.count(h, cApplyStale)
			case ApplyConflict:
				t.count(h, cApplyConflict)
			case ApplyFull:
				t.count(h, cApplyFull)
			}
			return res
		}
	}
	t.count(h, cApplyConflict)
	return ApplyConflict
}

// applyOnce tries once; done is false when a concurrent change means the
// caller should look again.
func (t *Table) applyOnce(r *Record, kw *kwords, h uint64) (ApplyResult, bool) {
	now := t.clk.Now()
	natAddr := [2]uint64{binary.LittleEndian.Uint64(r.NATAddr[:8]), binary.LittleEndian.Uint64(r.NATAddr[8:])}
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
