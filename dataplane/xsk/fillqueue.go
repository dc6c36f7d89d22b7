package xsk

import "unsafe"

// FillQueue hands empty UMEM frames to the kernel for it to receive into. User
// space is the producer.
//
// FillQueue is not safe for concurrent use.
type FillQueue struct {
	ringIndices
	addrs []uint64
}

func newFillQueue(r ringIndices, desc unsafe.Pointer) FillQueue {
	return FillQueue{ringIndices: r, addrs: unsafe.Slice((*uint64)(desc), r.size)}
}

// Produce puts as many of addrs on the ring as there is room for, publishes
// them in one store, and returns how many it took.
func (q *FillQueue) Produce(addrs []uint64) int {
	n := minU32(q.freeForProducer(uint32(len(addrs))), uint32(len(addrs)))
	if n == 0 {
		return 0
	}
	for i := uint32(0); i < n; i++ {
		q.addrs[(q.cachedProd+i)&q.mask] = addrs[i]
	}
	q.cachedProd += n
	q.publishProducer()
	return int(n)
}

// Free returns how many entries could be produced now without reloading the
// kernel's index more than once.
func (q *FillQueue) Free() int { return int(q.freeForProducer(q.size)) }

// NeedWakeup reports whether the kernel wants a wakeup (poll or recvfrom)
// before it fills more frames. Meaningful only with XDP_USE_NEED_WAKEUP.
func (q *FillQueue) NeedWakeup() bool { return q.needWakeup() }
