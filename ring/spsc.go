package ring

import "sync/atomic"

// SPSC is a bounded single-producer, single-consumer ring of T.
//
// SPSC is safe for exactly two goroutines at a time: one producer calling
// Enqueue and EnqueueBatch, and one consumer calling Dequeue and DequeueBatch.
// Either role may move to another goroutine only through a happens-before
// edge (a mutex, a channel). Len and Cap are safe from any goroutine.
//
// Positions are uint64 counters that only grow, wrapping at 2^64; the slot of
// position p is p&mask. The ring holds tail-head values.
type SPSC[T any] struct {
	_ [padSize]byte // keeps the consumer line away from whatever precedes r on the heap

	// Consumer line: written by the consumer only.
	head      atomic.Uint64 // next position to read
	tailCache uint64        // the consumer's last view of tail; never ahead of tail
	_         [padSize - 16]byte

	// Producer line: written by the producer only.
	tail      atomic.Uint64 // next position to write
	headCache uint64        // the producer's last view of head; never ahead of head
	_         [padSize - 16]byte

	// Read-only after construction.
	mask  uint64
	buf   []T
	clear bool // T holds pointers: clear slots once read
	_     [padSize - 40]byte
}

// NewSPSC returns an empty ring of the given capacity, a power of two in
// [2, MaxCapacity]; otherwise it returns an error wrapping ErrCapacity. All
// the ring's memory is allocated here: 512 bytes and capacity values of T.
func NewSPSC[T any](capacity int) (*SPSC[T], error) {
	return newSPSC[T](capacity, 0)
}

// newSPSC is NewSPSC with head and tail starting at position start, so that
// tests can start near the wrap of the uint64 counters.
func newSPSC[T any](capacity int, start uint64) (*SPSC[T], error) {
	if err := checkCapacity("SPSC", capacity); err != nil {
		return nil, err
	}
	r := &SPSC[T]{
		mask:      uint64(capacity - 1),
		buf:       make([]T, capacity),
		clear:     hasPointers[T](),
		tailCache: start,
		headCache: start,
	}
	r.head.Store(start) // before the ring is shared: no ordering needed
	r.tail.Store(start)
	return r, nil
}

// free returns how many slots the producer may fill from position t, reading
// the shared head only when the cached copy shows fewer than want.
//
// Precondition: called by the producer; t is the current tail.
func (r *SPSC[T]) free(t, want uint64) uint64 {
	f := uint64(len(r.buf)) - (t - r.headCache)
	if f < want {
		// Acquire: pairs with the consumer's release store of head, made after it
		// finished reading (and clearing) the slots before head, so the producer
		// may now overwrite them.
		r.headCache = r.head.Load()
		f = uint64(len(r.buf)) - (t - r.headCache)
	}
	return f
}

// avail returns how many values the consumer may read from position h,
// reading the shared tail only when the cached copy shows fewer than want.
//
// Precondition: called by the consumer; h is the current head.
func (r *SPSC[T]) avail(h, want uint64) uint64 {
	a := r.tailCache - h
	if a < want {
		// Acquire: pairs with the producer's release store of tail, made after it
		// wrote the slots before tail, so the consumer may now read them.
		r.tailCache = r.tail.Load()
		a = r.tailCache - h
	}
	return a
}

// Enqueue adds v at the tail and reports whether it fit; it returns false
// when the ring is full.
//
// Precondition: called by the producer.
func (r *SPSC[T]) Enqueue(v T) bool {
	t := r.tail.Load() // only the producer stores tail: no ordering needed
	if r.free(t, 1) == 0 {
		return false
	}
	r.buf[t&r.mask] = v
	storeRelease(&r.tail, t+1) // release: publishes the slot write to the consumer (see avail)
	return true
}

// EnqueueBatch adds as many of items as fit, in order, and returns how many
// that was: from len(items) down to 0 when the ring is full. It touches the
// shared indices once, whatever the batch size.
//
// Precondition: called by the producer.
func (r *SPSC[T]) EnqueueBatch(items []T) int {
	t := r.tail.Load() // only the producer stores tail: no ordering needed
	n := min(uint64(len(items)), r.free(t, uint64(len(items))))
	if n == 0 {
		return 0
	}
	first := copy(r.buf[t&r.mask:], items[:n])
	copy(r.buf, items[first:n])
	storeRelease(&r.tail, t+n) // release: publishes the slot writes to the consumer (see avail)
	return int(n)
}

// Dequeue removes and returns the value at the head; ok is false when the
// ring is empty.
//
// Precondition: called by the consumer.
func (r *SPSC[T]) Dequeue() (v T, ok bool) {
	h := r.head.Load() // only the consumer stores head: no ordering needed
	if r.avail(h, 1) == 0 {
		return v, false
	}
	slot := &r.buf[h&r.mask]
	v = *slot
	if r.clear {
		var zero T
		*slot = zero
	}
	storeRelease(&r.head, h+1) // release: hands the slot back to the producer (see free)
	return v, true
}

// DequeueBatch moves up to len(out) values from the head into out, in order,
// and returns how many that was (0 when the ring is empty). It touches the
// shared indices once, whatever the batch size.
//
// Precondition: called by the consumer.
func (r *SPSC[T]) DequeueBatch(out []T) int {
	h := r.head.Load() // only the consumer stores head: no ordering needed
	n := min(uint64(len(out)), r.avail(h, uint64(len(out))))
	if n == 0 {
		return 0
	}
	i := h & r.mask
	first := uint64(copy(out[:n], r.buf[i:]))
	copy(out[first:n], r.buf)
	if r.clear {
		clear(r.buf[i : i+first])
		clear(r.buf[:n-first])
	}
	storeRelease(&r.head, h+n) // release: hands the slots back to the producer (see free)
	return int(n)
}

// Len returns the number of values in the ring, between 0 and Cap. It is exact
// when neither side is running; otherwise values may move during the call, and
// the figure is a hint (it can count values the consumer took meanwhile).
func (r *SPSC[T]) Len() int {
	h := r.head.Load() // head before tail, see occupancy
	return occupancy(h, r.tail.Load(), len(r.buf))
}

// Cap returns the capacity the ring was created with.
func (r *SPSC[T]) Cap() int { return len(r.buf) }
