package conntrack

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Op is what a Record says happened to a connection.
type Op uint8

const (
	OpNew    Op = iota + 1 // a connection was created (or is sent by a full sync)
	OpUpdate               // state, owner, or timer refresh (keepalive)
	OpDelete               // the connection ended or expired on its owner
)

func (o Op) String() string {
	switch o {
	case OpNew:
		return "new"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	}
	return "invalid"
}

// Record flag bits.
const (
	RecSeenReply = 1 << 0
	RecAssured   = 1 << 1
)

// RecordSize is the in-memory size of a Record: 80 bytes, no pointers.
const RecordSize = 80

// Record is a delta: one change of one connection, as the sync path
// serialises it (fixed size, pointer-free, 80 bytes in memory; the wire
// encoding is syncpath/ccp's business).
//
// Version is per connection, uint64, and ordered like a Lamport clock: a new
// incarnation starts above the creating table's clock (nanoseconds) and
// above every version that table has applied, each later change of the
// connection adds one. So Apply can drop anything not newer than what it
// holds, a re-created connection with a reused key outranks the old one's
// tombstone, and a member promoting a peer's connections continues above
// the peer's versions.
//
// Timeout is relative: milliseconds left until the connection expires on the
// sender when the record was made (0 for deletes). The backup adds it to
// its own clock.
type Record struct {
	Key     Key
	NATAddr [16]byte // translated address (IPv4 in the first 4 bytes)
	Version uint64
	Timeout uint32 // milliseconds until expiry, relative to emission
	NATPort uint16
	Op      Op
	State   State
	NAT     NATKind
	NATRule uint8 // SNAT pool or DNAT rule index on the sender
	Owner   uint8 // member id of the connection's active owner
	Flags   uint8 // RecSeenReply | RecAssured
	WScale  uint8 // window scale: original in the low nibble, reply high; 15 unknown
	_       [3]byte
}

// emit sends a record describing e to the sink. On a full sink it counts
// the loss and marks the entry dirty: Sweep re-emits dirty entries as
// updates, so the backup converges once the ring drains (a lost delete
// cannot be retried: the backup's copy ages out on its own timeout, or the
// next full sync drops it). Precondition: e's lock held, or e not yet
// published (initEntry), so records of one entry reach the ring in version
// order.
func (t *Table) emit(e *entry, op Op, now int64) {
	if t.sink == nil {
		return
	}
	r := t.record(e, op, now)
	m := e.meta.Load()
	h := r.Key.hashWords(t.seed)
	if t.sink.Enqueue(r) {
		if m&fDirty != 0 {
			e.meta.Store(m &^ fDirty)
		}
		e.synced.Store(e.expires.Load())
		t.count(h, cRecords)
		return
	}
	if op == OpDelete {
		t.count(h, cDeletesLost)
		return
	}
	e.meta.Store(m | fDirty)
	t.count(h, cRecordsLost)
}

func (k *Key) hashWords(seed uint64) uint64 {
	var w kwords
	w.fromKey(k)
	return w.hash(seed)
}

// record builds the Record of e. Precondition: e's lock held, or the
// caller validates with seq afterwards.
func (t *Table) record(e *entry, op Op, now int64) Record {
	var ow kwords
	ow.fromEntry(e)
	m := e.meta.Load()
	r := Record{
		Key:     ow.key(),
		Version: e.version.Load(),
		NATPort: metaPort(m),
		Op:      op,
		State:   metaState(m),
		NAT:     metaNAT(m),
		NATRule: uint8(m >> mPoolShift),
		Owner:   metaOwner(m),
		WScale:  uint8(m >> mScaleShift),
	}
	binary.LittleEndian.PutUint64(r.NATAddr[:8], e.nat[0].Load())
	binary.LittleEndian.PutUint64(r.NATAddr[8:], e.nat[1].Load())
	if m&fSeenReply != 0 {
		r.Flags |= RecSeenReply
	}
	if m&fAssured != 0 {
		r.Flags |= RecAssured
	}
	if op != OpDelete {
		left := (e.expires.Load() - now) / 1e6
		r.Timeout = uint32(min(max(left, 0), math.MaxUint32))
	}
	return r
}

// snapshot reads a consistent Record of the live, non-tombstone entry idx
// without locking (seqlock: retry while a writer holds it or moved it).
func (t *Table) snapshot(idx uint32, now int64) (Record, bool) {
	e := &t.entries[idx]
	for {
		g := e.gen.Load()
		if g&1 == 0 {
			return Record{}, false
		}
		s := e.seq.Load()
		if s&1 != 0 {
			continue
		}
		if e.meta.Load()&fTomb != 0 {
			return Record{}, false
		}
		r := t.record(e, OpNew, now)
		if e.seq.Load() == s && e.gen.Load() == g {
			return r, true
		}
	}
}

// Get returns the current Record (Op New) of the connection k belongs to.
func (t *Table) Get(k Key) (Record, bool) {
	ref, _, ok := t.Lookup(k)
	if !ok {
		return Record{}, false
	}
	r, ok := t.snapshot(ref.idx, t.clk.Now())
	return r, ok
}

// RangeFrom visits up to n slots from cursor, calling fn with an OpNew
// record for each live connection, and returns the cursor to continue from
// (0 and done when the table has been covered). It holds no lock: each
// record is a consistent copy of its entry; entries changed during the
// walk are also sent through the record sink, which is what a full sync
// replays after the snapshot. fn returning false stops early.
func (t *Table) RangeFrom(cursor uint32, n int, fn func(Record) bool) (next uint32, done bool) {
	now := t.clk.Now()
	end := uint64(cursor) + uint64(n)
	if end > uint64(len(t.entries)) {
		end = uint64(len(t.entries))
	}
	for i := uint64(cursor); i < end; i++ {
		if (i == uint64(cursor) || i&(usedBlock-1) == 0) && t.neverUsed(i) {
			i |= usedBlock - 1
			continue
		}
		// The walk is sequential but each entry is two cache lines read
		// with dependent checks between them: ask for the lines a few
		// entries ahead so that DRAM streams while this one is copied.
		if a := i + rangeAhead; a < uint64(len(t.entries)) {
			prefetch(unsafe.Pointer(&t.entries[a]))
			prefetch(unsafe.Pointer(&t.entries[a].nat))
		}
		if r, ok := t.snapshot(uint32(i), now); ok && !fn(r) {
			return uint32(i + 1), i+1 >= uint64(len(t.entries))
		}
	}
	if end >= uint64(len(t.entries)) {
		return 0, true
	}
	return uint32(end), false
}

// rangeAhead is how many entries ahead of its cursor RangeFrom prefetches.
const rangeAhead = 8

// Range calls fn for every live connection (see RangeFrom).
func (t *Table) Range(fn func(Record) bool) {
	stop := false
	t.RangeFrom(0, len(t.entries), func(r Record) bool {
		if !fn(r) {
			stop = true
		}
		return !stop
	})
}

// Digest is an order-independent digest of the table: the sum of a fixed
// hash of each live connection's key, state, NAT mapping, owner and
// version (not its timers). An active member and a backup that applied all
// its records have equal digests.
func (t *Table) Digest() (sum uint64, n int) {
	t.Range(func(r Record) bool {
		sum += RecordDigest(&r)
		n++
		return true
	})
	return sum, n
}

// RecordDigest is one record's term of Digest.
func RecordDigest(r *Record) uint64 {
	var w kwords
	w.fromKey(&r.Key)
	h := uint64(0x243f6a8885a308d3)
	for _, x := range w {
		h = mum(h^x, 0x9e3779b97f4a7c15)
	}
	h = mum(h^binary.LittleEndian.Uint64(r.NATAddr[:8]), 0xbf58476d1ce4e5b9)
	h = mum(h^binary.LittleEndian.Uint64(r.NATAddr[8:]), 0x94d049bb133111eb)
	tail := uint64(r.NATPort) | uint64(r.State)<<16 | uint64(r.NAT)<<24 | uint64(r.Owner)<<32
	h = mum(h^tail, 0x9e3779b97f4a7c15)
	return mum(h^r.Version, 0xd6e8feb86659fd93)
}
