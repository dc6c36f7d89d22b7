package xsk

import "unsafe"

// CompletionQueue returns the frames of transmitted packets to user space. The
// kernel is the producer.
//
// CompletionQueue is not safe for concurrent use.
type CompletionQueue struct {
	ringIndices
	addrs []uint64
}

func newCompletionQueue(r ringIndices, desc unsafe.Pointer) CompletionQueue {
	return CompletionQueue{ringIndices: r, addrs: unsafe.Slice((*uint64)(desc), r.size)}
}

// Consume copies up to len(out) completed frame addresses into out, releases
// their slots in one store, and returns how many it copied.
func (q *CompletionQueue) Consume(out []uint64) int {
	n := minU32(q.availableForConsumer(uint32(len(out))), uint32(len(out)))
	if n == 0 {
		return 0
	}
	for i := uint32(0); i < n; i++ {
		out[i] = q.addrs[(q.cachedCons+i)&q.mask]
	}
	q.cachedCons += n
	q.publishConsumer()
	return int(n)
}
