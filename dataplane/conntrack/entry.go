package conntrack

import (
	"runtime"
	"sync/atomic"
)

// entry is one connection: 128 bytes, two cache lines, every word an atomic
// so lock-free readers are race-clean. Writers use atomic stores, except
// initEntry filling an entry before it publishes it (initStore64).
//
// First line (what a lookup touches): gen, seq, the chain links, the
// original key and meta. Second line: NAT address, version, timers and TCP
// window tracking.
//
// Identity and the two locks on an entry:
//   - gen is odd while the entry is live; it moves to even when the entry
//     is removed and back to odd when it is reused for another connection.
//     It only changes with the home shard's mu held and seq held. A reader
//     that saw the same odd gen before and after comparing the key knows
//     the key it compared belonged to one live incarnation.
//   - seq is the per-entry writer lock and seqlock: a writer CASes it from
//     even to odd, stores, and adds one. Snapshot readers retry while it is
//     odd or when it moved. The key, NAT address/port and reply link never
//     change while gen stays the same, so lookups do not read seq at all.
//
// Go's sync/atomic operations are sequentially consistent; every
// happens-before argument below relies only on that (a store of gen or of a
// bucket head is a release of every store sequenced before it; a load is an
// acquire).
type entry struct {
	gen  atomic.Uint32
	seq  atomic.Uint32
	next [2]atomic.Uint32 // chain links of the original [0] and reply [1] nodes
	key  [5]atomic.Uint64 // original-direction key words (kwords)
	meta atomic.Uint64    // see the m*/f* constants

	nat     [2]atomic.Uint64 // NAT address words (translated source or destination)
	version atomic.Uint64
	expires atomic.Int64 // clock time the entry expires at
	synced  atomic.Int64 // expiry the peers were last told of (keepalive records)
	tcp     [2]tcpDir
}

// tcpDir is netfilter's per-direction window tracking (td_end, td_maxend,
// td_maxwin). maxWin == 0 means "not seen yet": a new, picked-up or
// replicated connection learns it from the next packet in that direction.
type tcpDir struct {
	end, maxEnd, maxWin atomic.Uint32
}

// meta word layout.
const (
	mStateMask   = 0xf
	mNATShift    = 4 // 2 bits NATKind
	mOwnerShift  = 8
	mPortShift   = 16 // NAT port
	mScaleShift  = 32 // window scale: 4 bits original, 4 bits reply; scaleUnknown = 15
	fSeenReply   = 1 << 40
	fAssured     = 1 << 41
	fDirty       = 1 << 42 // a record about this entry was lost; Sweep re-emits
	fTomb        = 1 << 43 // deleted on the owner; kept on a backup for ordering
	fReplyNode   = 1 << 44 // the reply node is linked into the index
	fNoScaleOrig = 1 << 45 // the original SYN carried no window scale option
	// fRelearn: the window tracking is being relearnt after a takeover
	// (PromoteOwner): segments that fail the window checks update it
	// instead of being dropped, until a segment in each direction has
	// passed the checks (fStrictOrig, fStrictReply).
	fRelearn     = 1 << 46
	mPoolShift   = 48 // 8 bits: SNAT pool or DNAT rule index
	fStrictOrig  = 1 << 56
	fStrictReply = 1 << 57
)

const scaleUnknown = 15

func metaState(m uint64) State { return State(m & mStateMask) }
func metaNAT(m uint64) NATKind { return NATKind(m >> mNATShift & 3) }
func metaOwner(m uint64) uint8 { return uint8(m >> mOwnerShift) }
func metaPort(m uint64) uint16 { return uint16(m >> mPortShift) }
func metaScale(m uint64, d Dir) uint8 {
	return uint8(m >> (mScaleShift + 4*uint(d)) & 0xf)
}

func withState(m uint64, s State) uint64 { return m&^mStateMask | uint64(s) }
func withOwner(m uint64, o uint8) uint64 { return m&^(0xff<<mOwnerShift) | uint64(o)<<mOwnerShift }
func withScale(m uint64, d Dir, s uint8) uint64 {
	sh := mScaleShift + 4*uint(d)
	return m&^(0xf<<sh) | uint64(s&0xf)<<sh
}

// lock takes the entry's writer lock (seq even → odd).
func (e *entry) lock() {
	for i := 0; ; i++ {
		s := e.seq.Load()
		if s&1 == 0 && e.seq.CompareAndSwap(s, s+1) {
			return
		}
		if i > 64 {
			runtime.Gosched()
		}
	}
}

// unlock releases the writer lock (seq odd → even).
func (e *entry) unlock() { e.seq.Add(1) }

// fromEntry sets w to e's original-direction key words.
func (w *kwords) fromEntry(e *entry) {
	w[0], w[1], w[2], w[3], w[4] = e.key[0].Load(), e.key[1].Load(), e.key[2].Load(), e.key[3].Load(), e.key[4].Load()
}

// replyWords sets r to the reply-direction key of a connection whose
// original key is o, with the given NAT: SNAT answers to the translated
// source, DNAT answers from the translated destination. r and o must not
// be the same array.
func replyWords(r, o *kwords, kind NATKind, addr [2]uint64, port uint16) {
	proto, fam := uint8(o[4]>>32), uint8(o[4]>>40)
	switch kind {
	case NATSource:
		r[0], r[1], r[2], r[3], r[4] = o[2], o[3], addr[0], addr[1], packTail(o.dport(), port, proto, fam)
	case NATDestination:
		r[0], r[1], r[2], r[3], r[4] = addr[0], addr[1], o[0], o[1], packTail(port, o.sport(), proto, fam)
	default:
		r[0], r[1], r[2], r[3], r[4] = o[2], o[3], o[0], o[1], o.swappedTail()
	}
}
