package ring

import "sync/atomic"

// MPSC is a bounded multi-producer, single-consumer ring of T.
//
// Enqueue and EnqueueBatch are safe from any number of goroutines at once;
// Dequeue and DequeueBatch must be called by one consumer goroutine at a time
// (the role may move through a happens-before edge, as for SPSC). Len and Cap
// are safe from any goroutine.
//
// Producers reserve a run of positions with a compare-and-swap on tail and
// then publish each slot on its own with a sequence number, so a producer
// never waits for another. Values are dequeued in the order their positions
// were reserved; the values of one producer keep that producer's order. A
// producer descheduled between its reservation and its publication holds the
// consumer at that position until it resumes: nothing is lost or reordered, but
// the values behind it wait.
type MPSC[T any] struct {
	_ [padSize]byte // keeps the consumer line away from whatever precedes r on the heap

	// Consumer line: written by the consumer only.
	head atomic.Uint64 // next position to read
	_    [padSize - 8]byte

	// Producer line: shared by all producers.
	tail      atomic.Uint64 // next position to reserve
	headCache atomic.Uint64 // a head value some producer read; never ahead of head
	_         [padSize - 16]byte

	// Read-only after construction.
	mask  uint64
	slots []slot[T]
	clear bool // T holds pointers: clear slots once read
	_     [padSize - 40]byte
}

// slot is one cell of an MPSC. seq is p+1 once the value of position p has
// been written, and something else (p+1-capacity, from the round before)
// until then.
type slot[T any] struct {
	seq atomic.Uint64
	val T
}

// NewMPSC returns an empty ring of the given capacity, a power of two in
// [2, MaxCapacity]; otherwise it returns an error wrapping ErrCapacity. All
// the ring's memory is allocated here: 512 bytes and capacity slots, each a
// uint64 sequence number and a T (16 bytes for a uint64).
func NewMPSC[T any](capacity int) (*MPSC[T], error) {
	return newMPSC[T](capacity, 0)
}

// newMPSC is NewMPSC with head and tail starting at position start, so that
// tests can start near the wrap of the uint64 counters.
func newMPSC[T any](capacity int, start uint64) (*MPSC[T], error) {
	if err := checkCapacity("MPSC", capacity); err != nil {
		return nil, err
	}
	r := &MPSC[T]{
		mask:  uint64(capacity - 1),
		slots: make([]slot[T], capacity),
		clear: hasPointers[T](),
	}
	size := uint64(capacity)
	for p := start; p != start+size; p++ {
		// As if the round before had been written and read: no slot looks
		// published. Before the ring is shared: no ordering needed.
		r.slots[p&r.mask].seq.Store(p + 1 - size)
	}
	r.head.Store(start)
	r.headCache.Store(start)
	r.tail.Store(start)
	return r, nil
}

// reserve claims up to want (>= 1) consecutive positions for the calling
// producer and returns the first and how many it got: 0 when the ring is
// full.
func (r *MPSC[T]) reserve(want uint64) (first, n uint64) {
	size := uint64(len(r.slots))
	want = min(want, size)
	for {
		// No ordering needed for tail: the compare-and-swap below validates it.
		t := r.tail.Load()
		// Acquire: pairs with the release store of headCache by the producer that
		// read head, extending to us its acquire of head (below).
		used := t - r.headCache.Load()
		if used > size-want { // short of room by the cached head, or the cache is newer than t
			// Acquire: pairs with the consumer's release store of head, made after
			// it finished reading (and clearing) the slots before head, so the
			// positions up to head+size may now be written.
			h := r.head.Load()
			r.headCache.Store(h) // release: see the load of headCache above
			used = t - h
			if used > size {
				continue // head has passed t, so t is stale: reload it
			}
		}
		n = min(want, size-used)
		if n == 0 {
			// t-head was size when head was loaded: the ring was full then.
			return t, 0
		}
		// Sequentially consistent read-modify-write; what it relies on is only
		// atomicity: exactly one producer moves tail from t, and so owns [t, t+n).
		if r.tail.CompareAndSwap(t, t+n) {
			return t, n
		}
	}
}

// Enqueue adds v at the tail and reports whether it fit; it returns false
// when the ring is full. Safe for concurrent use by many producers.
func (r *MPSC[T]) Enqueue(v T) bool {
	p, n := r.reserve(1)
	if n == 0 {
		return false
	}
	s := &r.slots[p&r.mask]
	s.val = v
	storeRelease(&s.seq, p+1) // release: publishes val to the consumer's acquire load of seq
	return true
}

// EnqueueBatch adds as many of items as fit, in order, and returns how many
// that was: from len(items) down to 0 when the ring is full. The values it
// adds occupy consecutive positions, not interleaved with other producers'.
// Safe for concurrent use by many producers.
func (r *MPSC[T]) EnqueueBatch(items []T) int {
	if len(items) == 0 {
		return 0
	}
	p, n := r.reserve(uint64(len(items)))
	for i, v := range items[:n] {
		pos := p + uint64(i)
		s := &r.slots[pos&r.mask]
		s.val = v
		storeRelease(&s.seq, pos+1) // release: publishes val to the consumer's acquire load of seq
	}
	return int(n)
}

// take reads the value of position pos if it has been published.
//
// Precondition: called by the consumer, for positions from head onwards in
// order; the caller stores head past pos afterwards.
func (r *MPSC[T]) take(pos uint64) (v T, ok bool) {
	s := &r.slots[pos&r.mask]
	// Acquire: pairs with the producer's release store of seq, made after it
	// wrote val.
	if s.seq.Load() != pos+1 {
		return v, false // not yet published: empty here, or a producer is mid-write
	}
	v = s.val
	if r.clear {
		var zero T
		s.val = zero
	}
	return v, true
}

// Dequeue removes and returns the value at the head; ok is false when the
// ring is empty or the value at the head is still being written.
//
// Precondition: called by the consumer.
func (r *MPSC[T]) Dequeue() (v T, ok bool) {
	h := r.head.Load() // only the consumer stores head: no ordering needed
	if v, ok = r.take(h); ok {
		storeRelease(&r.head, h+1) // release: hands the slot back to the producers (see reserve)
	}
	return v, ok
}

// DequeueBatch moves up to len(out) values from the head into out, in order,
// and returns how many that was. It stops early at the first position not yet
// published (0 when the ring is empty), and stores head once.
//
// Precondition: called by the consumer.
func (r *MPSC[T]) DequeueBatch(out []T) int {
	h := r.head.Load() // only the consumer stores head: no ordering needed
	n := 0
	for n < len(out) {
		v, ok := r.take(h + uint64(n))
		if !ok {
			break
		}
		out[n] = v
		n++
	}
	if n > 0 {
		storeRelease(&r.head, h+uint64(n)) // release: hands the slots back to the producers (see reserve)
	}
	return n
}

// Len returns the number of positions reserved and not yet dequeued, between 0
// and Cap; it counts values still being written. It is exact when no
// goroutine is using the ring; otherwise it is a hint.
func (r *MPSC[T]) Len() int {
	h := r.head.Load() // head before tail, see occupancy
	return occupancy(h, r.tail.Load(), len(r.slots))
}

// Cap returns the capacity the ring was created with.
func (r *MPSC[T]) Cap() int { return len(r.slots) }
