package conntrack

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tandem-gw/tandem/internal/clock"
)

const (
	maxEntries = 1 << 29 // 2^30 buckets at most: nullsBit|bucket never equals freeEnd
	// nullsBit marks the end of a chain. The end of bucket b's chain holds
	// nullsBit|b (hlist_nulls): a lock-free reader whose walk was diverted
	// into another chain, because the entry it stood on was removed and
	// reused, ends on the wrong nulls value and starts over.
	nullsBit = 1 << 31
	// freeEnd ends free lists; it is a nulls value of no bucket, so a reader
	// that walks into a free list also starts over.
	freeEnd = ^uint32(0)
)

// Ref names one incarnation of an entry: it stops resolving once the
// connection is removed, even if the slot is reused.
type Ref struct {
	idx, gen uint32
}

// Table is the connection table. Lookups are lock-free and allocation-free
// and may run on any goroutine. Writers (insert, remove, sweep, apply) take
// per-shard mutexes: a connection's home shard is chosen by the symmetric
// hash of its original key; a NATed connection also takes the shard of its
// reply tuple, the two always locked in index order. Per-packet state
// updates take only the entry's own lock (entry.seq). All methods are safe
// for concurrent use.
type Table struct {
	cfg     Config
	clk     clock.Clock
	sink    RecordSink
	seed    uint64
	natSeed uint64

	entries []entry
	// used has one word per usedBlock entries, set (from 0 to 1, never
	// back) when an entry of the block is first allocated, before the
	// entry is published: a walk (RangeFrom) that reads 0 skips the
	// block, whose entries have all been free since the table was made.
	used []atomic.Uint32
	// buckets are chain heads: a node id (entry index<<1 | Dir) or a nulls
	// value. Stored with the shard's mu held, after the node's entry is fully
	// written (release); loaded by readers (acquire).
	buckets    []atomic.Uint32
	bmask      uint32
	shardShift uint
	shards     []shard

	// free holds the free-entry stacks (Treiber), one lane per processor
	// (P) modulo freeLanes: an insert pops from its own processor's lane
	// and a delete pushes onto it, so allocation is LIFO per core (an
	// insert reuses the entry a delete on the same core just freed, still
	// in that core's cache) and two cores do not bounce one stack head
	// between them. An empty lane steals from the others. The padding
	// before keeps lane 0's head, CASed by every insert and delete on P 0,
	// off the line of the read-mostly fields above, which every operation
	// on every core reads.
	_    [64]byte
	free [freeLanes]freeLane

	// vfloor is the highest version this table has applied from a peer.
	// Versions it makes are above it and above the clock (see Record).
	vfloor atomic.Uint64

	applyMu sync.Mutex // serialises Apply

	// ownerMoves is the net number of entries whose owner changed from
	// this member to another (+1) or back (-1) while they lived: the
	// changes happen under the entry's lock only, not the shard's (see
	// shard.foreign).
	ownerMoves atomic.Int64

	sweepHand atomic.Uint64
	snat      []natPool
	dnat      []dnatRule
}

// usedBlock is how many entries one word of Table.used covers (a power of
// two).
const (
	usedShift = 9
	usedBlock = 1 << usedShift
)

// freeLanes is the number of free-entry stacks (a power of two).
const freeLanes = 16

// freeLane is the head of one free-entry stack: the low 32 bits are the
// top entry in node form (index<<1) or freeEnd, the high 32 bits a tag
// bumped by every push and pop so a stale CAS fails (ABA). The links live
// in the entries' next[0]. Padded to its own cache line.
type freeLane struct {
	head atomic.Uint64
	_    [56]byte
}

type shard struct {
	mu   sync.Mutex
	hand uint32 // eviction scan cursor; guarded by mu
	// inserted and removed change with every connection: plain counters
	// under mu, which the insert and remove paths hold anyway (an atomic
	// add is a full barrier on amd64). Guarded by mu.
	inserted, removed uint64
	// delFloor is the highest version of a connection removed from this
	// shard: a new incarnation of the same key (whose home shard is this
	// one) starts above it even if the clock has not moved, as a coarse
	// clock may not have. Guarded by mu.
	delFloor uint64
	// foreign counts the shard's entries (tombstones included) that
	// another member owned when they were inserted, less those another
	// member owned when removed; Table.ownerMoves holds the changes of
	// owner between. Guarded by mu.
	foreign int64
	stats   [numCounters]atomic.Uint64
	_       [64]byte
}

// New preallocates a table of cfg.MaxEntries entries (128 bytes each) and
// an index of 2 buckets per entry rounded up to a power of two (4 bytes
// each): about 136 bytes per entry, NAT included, whatever the load.
func New(cfg Config) (*Table, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("creating conntrack table: %w", err)
	}
	t := &Table{cfg: cfg, clk: cfg.Clock, sink: cfg.Records, seed: cfg.Seed}
	if t.seed == 0 {
		t.seed = rand.Uint64() | 1
	}
	t.natSeed = mum(t.seed, 0x94d049bb133111eb)
	nb := 1 << bits.Len(uint(2*cfg.MaxEntries-1))
	if nb < cfg.Shards {
		nb = cfg.Shards
	}
	t.buckets = make([]atomic.Uint32, nb)
	adviseHuge(unsafe.Pointer(&t.buckets[0]), uintptr(nb)*4)
	t.bmask = uint32(nb - 1)
	t.shardShift = uint(bits.Len(uint(nb))-1) - uint(bits.Len(uint(cfg.Shards))-1)
	for i := range t.buckets {
		t.buckets[i].Store(nullsBit | uint32(i))
	}
	t.entries = make([]entry, cfg.MaxEntries)
	t.used = make([]atomic.Uint32, (cfg.MaxEntries+usedBlock-1)/usedBlock)
	adviseHuge(unsafe.Pointer(&t.entries[0]), uintptr(cfg.MaxEntries)*unsafe.Sizeof(entry{}))
	t.shards = make([]shard, cfg.Shards)
	for i := range t.shards {
		t.shards[i].hand = uint32(uint64(i) * uint64(cfg.MaxEntries) / uint64(cfg.Shards))
	}
	// Each lane starts with a contiguous block of entries, lowest on top.
	per := (cfg.MaxEntries + freeLanes - 1) / freeLanes
	for l := range t.free {
		t.free[l].head.Store(uint64(freeEnd))
		for i := min((l+1)*per, cfg.MaxEntries) - 1; i >= l*per; i-- {
			t.push(l, uint32(i))
		}
	}
	if err := t.compileNAT(); err != nil {
		return nil, fmt.Errorf("creating conntrack table: %w", err)
	}
	return t, nil
}

// Cap returns MaxEntries.
func (t *Table) Cap() int { return len(t.entries) }

// Len returns the number of live entries (tombstones included).
func (t *Table) Len() int {
	var n uint64
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.inserted - s.removed
		s.mu.Unlock()
	}
	return int(n)
}

// ForeignLen returns the number of entries (tombstones included) owned by
// another member: a backup's copies. It takes every shard's mutex, as Len
// does; a session reads it to skip a walk for the peer's entries when
// there are none.
func (t *Table) ForeignLen() int {
	n := t.ownerMoves.Load()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.foreign
		s.mu.Unlock()
	}
	return int(n)
}

// neverUsed reports whether no entry of entry i's block was ever
// allocated: a walk skips the block (see Table.used).
func (t *Table) neverUsed(i uint64) bool { return t.used[i>>usedShift].Load() == 0 }

// Self returns this member's id.
func (t *Table) Self() uint8 { return t.cfg.Self }

// Now returns the table clock's time.
func (t *Table) Now() int64 { return t.clk.Now() }

func (t *Table) bucketOf(h uint64) uint32 { return uint32(h) & t.bmask }

func (t *Table) shardOf(b uint32) int { return int(b >> t.shardShift) }

// Lookup finds the live connection k belongs to and the direction k
// matched. It takes no lock and allocates nothing.
func (t *Table) Lookup(k Key) (Ref, Dir, bool) { return t.lookup(&k) }

// lookup is Lookup. Lookup stays small enough to be inlined, so that its
// caller's key is read in place rather than copied into the arguments of a
// call (see kwords.fromKey).
func (t *Table) lookup(k *Key) (Ref, Dir, bool) {
	var kw kwords
	kw.fromKey(k)
	b := t.bucketOf(kw.hash(t.seed))
	n := t.buckets[b].Load()
	// The common hit: the chain's first node is an original node whose key
	// is kw. Checked inline, so that a hit is two loads with nothing but
	// the compare between them (findFrom's walk takes the rest).
	if n&(nullsBit|1) == 0 {
		e := &t.entries[n>>1]
		g := e.gen.Load()
		if g&1 == 1 && e.key[4].Load() == kw[4] && e.key[0].Load() == kw[0] &&
			e.key[2].Load() == kw[2] && e.key[1].Load() == kw[1] && e.key[3].Load() == kw[3] {
			m := e.meta.Load()
			if e.gen.Load() == g {
				if m&fTomb != 0 {
					return Ref{}, 0, false
				}
				return Ref{n >> 1, g}, DirOriginal, true
			}
		}
	}
	idx, gen, dir, ok := t.findFrom(&kw, b, n, false)
	if !ok || t.entries[idx].meta.Load()&fTomb != 0 {
		return Ref{}, 0, false
	}
	return Ref{idx, gen}, dir, true
}

// find walks the chain of kw's bucket. A node of the original direction
// matches kw or its reverse; a reply node matches kw exactly, or (collide
// set, for insertion checks) its reverse too. It returns tombstones.
func (t *Table) find(kw *kwords, h uint64, collide bool) (idx, gen uint32, dir Dir, ok bool) {
	b := t.bucketOf(h)
	return t.findFrom(kw, b, t.buckets[b].Load(), collide)
}

// findFrom is find with the bucket head already loaded (LookupBatch loads
// a batch of heads first so their cache misses overlap).
func (t *Table) findFrom(kw *kwords, b, n uint32, collide bool) (idx, gen uint32, dir Dir, ok bool) {
	for {
		for n&nullsBit == 0 {
			e := &t.entries[n>>1]
			g := e.gen.Load()
			next := e.next[n&1].Load()
			if g&1 == 1 {
				var match bool
				if n&1 == 0 {
					match, dir = t.matchOrig(e, kw)
				} else {
					match, dir = t.matchReply(e, kw, collide), DirReply
				}
				if match && e.gen.Load() == g {
					return n >> 1, g, dir, true
				}
			}
			n = next
		}
		if n == nullsBit|b {
			return 0, 0, 0, false
		}
		n = t.buckets[b].Load() // diverted into another chain: start over
	}
}

// matchOrig compares kw with an original node: equal is the original
// direction, equal to the reverse is the reply.
func (t *Table) matchOrig(e *entry, kw *kwords) (bool, Dir) {
	w0, w1, w2, w3, w4 := e.key[0].Load(), e.key[1].Load(), e.key[2].Load(), e.key[3].Load(), e.key[4].Load()
	if w4 == kw[4] && w0 == kw[0] && w2 == kw[2] && w1 == kw[1] && w3 == kw[3] {
		return true, DirOriginal
	}
	if w0 == kw[2] && w2 == kw[0] && w1 == kw[3] && w3 == kw[1] && w4 == kw.swappedTail() {
		return true, DirReply
	}
	return false, 0
}

func (t *Table) matchReply(e *entry, kw *kwords, collide bool) bool {
	m := e.meta.Load()
	var ow, rw kwords
	ow.fromEntry(e)
	replyWords(&rw, &ow, metaNAT(m), [2]uint64{e.nat[0].Load(), e.nat[1].Load()}, metaPort(m))
	if rw == *kw {
		return true
	}
	return collide && rw.reverseOf(kw)
}

// prefetchBlock is how many keys Prefetch stages at a time.
const prefetchBlock = 64

// Prefetch brings the index entries of a batch of keys into cache: it
// loads every key's bucket head, then touches the first entry of every
// chain, so the cache misses of the whole batch overlap instead of
// queueing one behind the other in the per-key calls that follow
// (Track, Insert, Delete on the same keys). The engine calls it once per
// receive batch. Lock-free, allocation-free; it changes nothing.
func (t *Table) Prefetch(keys []Key) {
	var heads [prefetchBlock]uint32
	for base := 0; base < len(keys); base += prefetchBlock {
		n := min(prefetchBlock, len(keys)-base)
		// Hash every key before loading any head: a loop that hashes and
		// loads in one iteration kept about one miss in flight (measured
		// on a Zen 5 VM: 160 ns a key against 20 ns with separate loops).
		for i := 0; i < n; i++ {
			var kw kwords
			kw.fromKey(&keys[base+i])
			heads[i] = t.bucketOf(kw.hash(t.seed))
		}
		for i := 0; i < n; i++ {
			heads[i] = t.buckets[heads[i]].Load()
		}
		for i := 0; i < n; i++ {
			if h := heads[i]; h&nullsBit == 0 {
				t.entries[h>>1].gen.Load()
			}
		}
	}
}

// Hit is one result of LookupBatch.
type Hit struct {
	Ref Ref
	Dir Dir
	OK  bool
}

// lookupStride is how many lookups LookupBatch overlaps.
const lookupStride = 16

// LookupBatch looks up keys[i] into out[i] (len(out) >= len(keys)) and
// returns the number of hits. It is Lookup for a receive batch: it loads
// the bucket heads of up to 16 keys, then touches their first entries,
// before walking any chain, so the cache misses of different keys overlap
// instead of queueing one behind the other. Lock-free, allocation-free.
func (t *Table) LookupBatch(keys []Key, out []Hit) int {
	out = out[:len(keys)]
	hits := 0
	var kws [lookupStride]kwords
	var bs, heads [lookupStride]uint32
	for base := 0; base < len(keys); base += lookupStride {
		n := min(lookupStride, len(keys)-base)
		for i := 0; i < n; i++ {
			kws[i].fromKey(&keys[base+i])
			bs[i] = t.bucketOf(kws[i].hash(t.seed))
		}
		for i := 0; i < n; i++ {
			heads[i] = t.buckets[bs[i]].Load()
		}
		for i := 0; i < n; i++ {
			if h := heads[i]; h&nullsBit == 0 {
				t.entries[h>>1].gen.Load()
			}
		}
		for i := 0; i < n; i++ {
			idx, gen, dir, ok := t.findFrom(&kws[i], bs[i], heads[i], false)
			if ok && t.entries[idx].meta.Load()&fTomb == 0 {
				out[base+i] = Hit{Ref{idx, gen}, dir, true}
				hits++
			} else {
				out[base+i] = Hit{}
			}
		}
	}
	return hits
}

// lockPair locks shards a and b (b < 0: only a) in index order.
func (t *Table) lockPair(a, b int) {
	switch {
	case b < 0 || a == b:
		t.shards[a].mu.Lock()
	case a < b:
		t.shards[a].mu.Lock()
		t.shards[b].mu.Lock()
	default:
		t.shards[b].mu.Lock()
		t.shards[a].mu.Lock()
	}
}

func (t *Table) unlockPair(a, b int) {
	t.shards[a].mu.Unlock()
	if b >= 0 && a != b {
		t.shards[b].mu.Unlock()
	}
}

// alloc pops a free entry, from the calling processor's lane or, when
// that is empty, from the next non-empty one. Safe for concurrent use
// (lock-free).
func (t *Table) alloc() (uint32, bool) {
	l := procLane()
	for i := 0; i < freeLanes; i++ {
		if idx, ok := t.pop((l + i) & (freeLanes - 1)); ok {
			// Marked before the entry is published (a seq-cst store
			// before its gen's): a walk that finds the block unmarked
			// ran before the entry was live, and the entry's New record
			// comes after the walk began.
			if u := &t.used[idx>>usedShift]; u.Load() == 0 {
				u.Store(1)
			}
			return idx, true
		}
	}
	return 0, false
}

func (t *Table) pop(l int) (uint32, bool) {
	h := &t.free[l].head
	for {
		old := h.Load()
		top := uint32(old)
		if top == freeEnd {
			return 0, false
		}
		next := t.entries[top>>1].next[0].Load()
		if h.CompareAndSwap(old, (old>>32+1)<<32|uint64(next)) {
			return top >> 1, true
		}
	}
}

// release pushes entry idx on the calling processor's free lane.
func (t *Table) release(idx uint32) { t.push(procLane(), idx) }

// push puts entry idx on top of lane l. Its next[0] becomes the stack
// link, in node form: a lookup still standing on the entry walks the free
// stack to freeEnd, a nulls value of no bucket, and starts over.
func (t *Table) push(l int, idx uint32) {
	h := &t.free[l].head
	for {
		old := h.Load()
		t.entries[idx].next[0].Store(uint32(old))
		if h.CompareAndSwap(old, (old>>32+1)<<32|uint64(idx<<1)) {
			return
		}
	}
}

// procLane returns the free lane of the processor (P) running the caller.
// It is a hint: the goroutine may move right after, which costs locality,
// not correctness, as every lane is a lock-free stack.
func procLane() int {
	p := runtimeProcPin()
	runtimeProcUnpin()
	return p & (freeLanes - 1)
}

// runtime.procPin and procUnpin return and release the current P's id;
// sync.Pool uses them, and the runtime keeps them linkable for packages
// outside the standard library (go.dev/issue/67401).
//
//go:linkname runtimeProcPin runtime.procPin
func runtimeProcPin() int

//go:linkname runtimeProcUnpin runtime.procUnpin
func runtimeProcUnpin()

// unlink removes node (idx, d) from bucket b. The node keeps its next link
// so that readers standing on it carry on down the chain. Precondition:
// the bucket's shard mu held.
func (t *Table) unlink(b, idx uint32, d Dir) {
	node := idx<<1 | uint32(d)
	prev := &t.buckets[b]
	for n := prev.Load(); n&nullsBit == 0; n = prev.Load() {
		if n == node {
			prev.Store(t.entries[idx].next[d].Load())
			return
		}
		prev = &t.entries[n>>1].next[n&1]
	}
}

// replyBucket returns the bucket of an entry's reply node and the shard
// guarding it, or -1, -1 when the entry has none.
func (t *Table) replyBucket(e *entry, ow *kwords, m uint64) (uint32, int) {
	if m&fReplyNode == 0 {
		return 0, -1
	}
	var rw kwords
	replyWords(&rw, ow, metaNAT(m), [2]uint64{e.nat[0].Load(), e.nat[1].Load()}, metaPort(m))
	rb := t.bucketOf(rw.hash(t.seed))
	return rb, t.shardOf(rb)
}
