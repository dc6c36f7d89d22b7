package xsk

import "unsafe"

// RxQueue delivers received packets. The kernel is the producer.
//
// RxQueue is not safe for concurrent use.
type RxQueue struct {
	ringIndices
	descs []Desc
}

func newRxQueue(r ringIndices, desc unsafe.Pointer) RxQueue {
	return RxQueue{ringIndices: r, descs: unsafe.Slice((*Desc)(desc), r.size)}
}

// Receive copies up to len(out) descriptors into out, releases their slots in
// one store, and returns how many it copied. The frames they point at belong to
// the caller until it puts them back on a fill ring (or transmits them).
func (q *RxQueue) Receive(out []Desc) int {
	n := minU32(q.availableForConsumer(uint32(len(out))), uint32(len(out)))
	if n == 0 {
		return 0
	}
	for i := uint32(0); i < n; i++ {
		out[i] = q.descs[(q.cachedCons+i)&q.mask]
	}
	q.cachedCons += n
	q.publishConsumer()
	return int(n)
}

// Pending returns how many received descriptors wait on the ring.
func (q *RxQueue) Pending() int { return int(q.availableForConsumer(q.size)) }
