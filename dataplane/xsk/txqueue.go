package xsk

import (
	"sync/atomic"
	"unsafe"
)

// TxQueue sends packets. User space is the producer; the frames come back on
// the CompletionQueue once the kernel is done with them.
//
// TxQueue is not safe for concurrent use.
type TxQueue struct {
	ringIndices
	descs []Desc
}

func newTxQueue(r ringIndices, desc unsafe.Pointer) TxQueue {
	return TxQueue{ringIndices: r, descs: unsafe.Slice((*Desc)(desc), r.size)}
}

// Transmit puts as many of descs on the ring as there is room for, publishes
// them in one store, and returns how many it took. A multi-buffer packet is a
// run of descriptors whose every member but the last has OptionContinued set;
// Transmit never splits such a run, so it may take fewer than there is room
// for. The caller must still kick the kernel (Socket.Kick) in copy mode, or
// when NeedWakeup says so.
func (q *TxQueue) Transmit(descs []Desc) int {
	n := minU32(q.freeForProducer(uint32(len(descs))), uint32(len(descs)))
	if n == 0 {
		return 0
	}
	// Do not publish a partial multi-buffer packet: back off to the end of the
	// last complete one.
	for n > 0 && descs[n-1].Options&OptionContinued != 0 {
		n--
	}
	for i := uint32(0); i < n; i++ {
		q.descs[(q.cachedProd+i)&q.mask] = descs[i]
	}
	q.cachedProd += n
	if n > 0 {
		q.publishProducer()
	}
	return int(n)
}

// Pending returns how many published descriptors the kernel has not taken
// yet: a kick with none pending does nothing (completions arrive without
// one). It loads the kernel's consumer index (acquire).
func (q *TxQueue) Pending() int {
	return int(q.cachedProd - atomic.LoadUint32(q.consumer))
}

// Free returns how many descriptors could be queued now.
func (q *TxQueue) Free() int { return int(q.freeForProducer(q.size)) }

// NeedWakeup reports whether the kernel wants a sendto kick before it
// transmits more. Meaningful only with XDP_USE_NEED_WAKEUP; copy mode always
// needs a kick regardless.
func (q *TxQueue) NeedWakeup() bool { return q.needWakeup() }
