package conntrack

import "sync/atomic"

// newConn describes an entry to create.
type newConn struct {
	state   State
	owner   uint8
	flags   uint64 // f* bits
	scale   uint64 // window scale nibbles already in meta position
	nat     NATKind
	natIdx  uint8
	natAddr [2]uint64
	natPort uint16
	fixed   bool   // NAT address/port given (Apply); no candidate search
	version uint64 // 0: the table makes one
	expires int64
	emit    bool  // emit an OpNew record
	now     int64 // clock time of the insertion
	seg     *Segment
	dir     Dir
}

type outcome uint8

const (
	outOK outcome = iota
	outExists
	outFull
	outNAT
	outConflict // a given NAT reply tuple is taken (Apply)
)

// insert creates the entry for kw. On success the entry is live and linked
// and its New record (if any) emitted.
func (t *Table) insert(kw *kwords, h uint64, nc *newConn) (Ref, outcome) {
	b := t.bucketOf(h)
	si := t.shardOf(b)
	evicted := t.cfg.WhenFull != FullEvictEmbryonic
	probes := 1
	var space uint64
	if nc.nat != NATNone && !nc.fixed {
		space = t.natSpace(kw, nc)
		if space == 0 {
			t.count(h, cDropNAT)
			return Ref{}, outNAT
		}
		probes = int(min(space, uint64(t.cfg.NATMaxProbes)))
		if t.natPreserve(kw, nc) {
			probes++
		}
	}
	base := mum(h^t.natSeed, 0xd6e8feb86659fd93)
	for p := 0; p < probes; p++ {
		var rb uint32
		ri := -1
		if nc.nat != NATNone {
			if !nc.fixed {
				t.natCandidate(kw, nc, p, base, space)
			}
			var rw kwords
			replyWords(&rw, kw, nc.nat, nc.natAddr, nc.natPort)
			rb = t.bucketOf(rw.hash(t.seed))
			ri = t.shardOf(rb)
			t.lockPair(si, ri)
			if _, _, _, ok := t.find(&rw, rw.hash(t.seed), true); ok {
				t.unlockPair(si, ri)
				if nc.fixed {
					return Ref{}, outConflict
				}
				continue
			}
		} else {
			t.lockPair(si, ri)
		}
		if _, _, _, ok := t.find(kw, h, true); ok {
			t.unlockPair(si, ri)
			return Ref{}, outExists
		}
		idx, ok := t.alloc()
		if !ok {
			t.unlockPair(si, ri)
			if !evicted && t.Len() >= len(t.entries) {
				// Full: make room once and try this candidate again.
				evicted = true
				if t.evict(si) {
					p--
					continue
				}
			}
			t.count(h, cDropFull)
			return Ref{}, outFull
		}
		ref := t.initEntry(idx, kw, b, rb, ri >= 0, nc)
		t.shards[si].inserted++
		if nc.owner != t.cfg.Self {
			t.shards[si].foreign++
		}
		t.unlockPair(si, ri)
		return ref, outOK
	}
	t.count(h, cDropNAT)
	return Ref{}, outNAT
}

// initEntry writes a free entry, emits its New record, publishes it and
// links its nodes. The entry lock is not taken: until gen turns odd no
// lookup can return the entry, and updaters that reach it through a stale
// Ref only lock it, see the gen they hold is gone, and let go; the record
// is emitted before publication, so it precedes every Update of the
// entry. Precondition: the shard mutexes of buckets b and rb held.
func (t *Table) initEntry(idx uint32, kw *kwords, b, rb uint32, reply bool, nc *newConn) Ref {
	e := &t.entries[idx]
	// The entry is not published yet: plain stores (initStore64), which
	// the gen.Add below publishes.
	for i := range kw {
		initStore64(&e.key[i], kw[i])
	}
	m := uint64(nc.state) | uint64(nc.nat)<<mNATShift | uint64(nc.owner)<<mOwnerShift |
		uint64(nc.natPort)<<mPortShift | uint64(nc.natIdx)<<mPoolShift | nc.flags | nc.scale
	if reply {
		m |= fReplyNode
	}
	initStore64(&e.meta, m)
	initStore64(&e.nat[0], nc.natAddr[0])
	initStore64(&e.nat[1], nc.natAddr[1])
	v := nc.version
	if v == 0 {
		v = max(t.newVersion(nc.now), t.shards[t.shardOf(b)].delFloor+1)
	}
	initStore64(&e.version, v)
	initStoreInt64(&e.expires, nc.expires)
	initStoreInt64(&e.synced, 0)
	resetTCP(e)
	if nc.seg != nil {
		_, _ = t.tcpInWindow(e, nc.dir, nc.seg)
	}
	if nc.emit {
		t.emit(e, OpNew, nc.now)
	}
	// The nodes' chain links, still unpublished: the heads of b and rb
	// cannot move, as their shard mutexes are held. With b == rb the
	// reply node goes in front of the original one.
	initStore32(&e.next[DirOriginal], t.buckets[b].Load())
	if reply {
		n := t.buckets[rb].Load()
		if rb == b {
			n = idx << 1
		}
		initStore32(&e.next[DirReply], n)
	}
	gen := e.gen.Add(1) // odd: live. Publishes every store above.
	// Link the nodes: a release store of each head after the entry is
	// complete (see Table.buckets).
	t.buckets[b].Store(idx<<1 | uint32(DirOriginal))
	if reply {
		t.buckets[rb].Store(idx<<1 | uint32(DirReply))
	}
	return Ref{idx, gen}
}

func store32(a *atomic.Uint32, v uint32) {
	if a.Load() != v {
		a.Store(v)
	}
}

// newVersion returns the first version of a new incarnation: above the
// clock and above every version applied from a peer.
func (t *Table) newVersion(now int64) uint64 {
	return max(uint64(now), t.vfloor.Load()) + 1
}

// remove deletes the entry ref names. A Delete record is emitted when emit
// is set and this member owns the entry. It reports false if ref no longer
// names a live entry.
func (t *Table) remove(ref Ref, emit bool, why int) bool {
	e := &t.entries[ref.idx]
	if e.gen.Load() != ref.gen {
		return false
	}
	// Key, NAT and reply link are fixed while gen holds; read them before
	// locking to find the shards, then check gen again under the locks.
	var ow kwords
	ow.fromEntry(e)
	m := e.meta.Load()
	h := ow.hash(t.seed)
	b := t.bucketOf(h)
	si := t.shardOf(b)
	rb, ri := t.replyBucket(e, &ow, m)
	t.lockPair(si, ri)
	if e.gen.Load() != ref.gen {
		t.unlockPair(si, ri)
		return false
	}
	e.lock()
	m = e.meta.Load()
	if emit && m&fTomb == 0 && metaOwner(m) == t.cfg.Self && t.sink != nil {
		e.version.Add(1)
		t.emit(e, OpDelete, t.clk.Now())
	}
	if v := e.version.Load(); v > t.shards[si].delFloor {
		t.shards[si].delFloor = v // si's mutex held: see shard.delFloor
	}
	if metaOwner(m) != t.cfg.Self {
		t.shards[si].foreign--
	}
	e.gen.Add(1) // even: dead
	e.unlock()
	t.unlink(b, ref.idx, DirOriginal)
	if ri >= 0 {
		t.unlink(rb, ref.idx, DirReply)
	}
	t.release(ref.idx)
	t.shards[si].removed++
	t.unlockPair(si, ri)
	if why >= 0 {
		t.count(h, why)
	}
	return true
}

// Delete removes the connection k belongs to, emitting a Delete record if
// this member owns it. It reports whether there was one.
func (t *Table) Delete(k Key) bool { return t.delete(&k) }

func (t *Table) delete(k *Key) bool {
	ref, _, ok := t.lookup(k)
	return ok && t.remove(ref, true, -1)
}

// Insert creates an entry for k in state st with no NAT, owned by this
// member, emitting a New record. It is the control-plane and benchmark
// entry point; the packet path uses Track.
func (t *Table) Insert(k Key, st State) (Ref, error) {
	return t.insertNAT(&k, st, NATRequest{})
}

// InsertNAT is Insert with a NAT mapping allocated from the request's pool.
func (t *Table) InsertNAT(k Key, st State, nat NATRequest) (Ref, error) {
	return t.insertNAT(&k, st, nat)
}

func (t *Table) insertNAT(k *Key, st State, nat NATRequest) (Ref, error) {
	var kw kwords
	kw.fromKey(k)
	h := kw.hash(t.seed)
	now := t.clk.Now()
	nc := newConn{state: st, owner: t.cfg.Self, expires: now + t.cfg.Timeouts.timeout(st), emit: true, now: now}
	if st.IsTCP() {
		nc.scale = scaleUnknown<<mScaleShift | scaleUnknown<<(mScaleShift+4)
	}
	if !t.setNAT(&nc, nat) {
		return Ref{}, ErrNATExhausted
	}
	ref, out := t.insert(&kw, h, &nc)
	switch out {
	case outExists:
		return Ref{}, ErrExists
	case outFull:
		return Ref{}, ErrTableFull
	case outNAT, outConflict:
		return Ref{}, ErrNATExhausted
	}
	return ref, nil
}

// evict looks at cfg.EvictScan entries from shard si's cursor and removes
// the first expired one or else the embryonic one (not assured, owned by
// this member) that expires first: roughly the oldest half-open connection
// among those seen. It reports whether it freed an entry.
func (t *Table) evict(si int) bool {
	s := &t.shards[si]
	s.mu.Lock()
	start := s.hand
	s.hand = uint32((uint64(start) + uint64(t.cfg.EvictScan)) % uint64(len(t.entries)))
	s.mu.Unlock()
	now := t.clk.Now()
	var victim Ref
	var best int64
	found := false
	for i := 0; i < t.cfg.EvictScan; i++ {
		idx := uint32((uint64(start) + uint64(i)) % uint64(len(t.entries)))
		e := &t.entries[idx]
		g := e.gen.Load()
		if g&1 == 0 {
			continue
		}
		m := e.meta.Load()
		exp := e.expires.Load()
		if exp <= now {
			if t.remove(Ref{idx, g}, true, cExpired) {
				return true
			}
			continue
		}
		if m&(fAssured|fTomb) != 0 || !metaState(m).embryonic() || metaOwner(m) != t.cfg.Self {
			continue
		}
		if !found || exp < best {
			victim, best, found = Ref{idx, g}, exp, true
		}
	}
	if found && t.remove(victim, true, cEvicted) {
		return true
	}
	return false
}
