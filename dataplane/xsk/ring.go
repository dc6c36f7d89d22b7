package xsk

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringIndices is the part common to the four rings: the shared indices in the
// mapped area, their cached copies, and the geometry.
//
// cachedProd and cachedCons are this side's view of the indices. The side that
// owns an index keeps it exact in its cache and stores it to the shared word at
// the end of a batch; the other index is reloaded only when the cached view
// says there is not enough room (producer) or nothing left (consumer).
type ringIndices struct {
	producer *uint32 // shared: written by the producer side, atomically
	consumer *uint32 // shared: written by the consumer side, atomically
	flags    *uint32 // shared: XDP_RING_NEED_WAKEUP, written by the kernel
	mask     uint32
	size     uint32

	cachedProd uint32
	cachedCons uint32

	mapping []byte // the whole mmapped ring, for Munmap
}

// mapRing maps one ring of a socket and resolves its shared words.
func mapRing(fd int, pgoff int64, off unix.XDPRingOffset, entries uint32, entrySize uintptr) (ringIndices, unsafe.Pointer, error) {
	length := int(off.Desc) + int(entries)*int(entrySize)
	mem, err := unix.Mmap(fd, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return ringIndices{}, nil, fmt.Errorf("mapping ring at page offset %#x (%d bytes): %w", pgoff, length, err)
	}
	r := ringIndices{
		producer: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags:    (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		mask:     entries - 1,
		size:     entries,
		mapping:  mem,
	}
	// Start from the kernel's view; a fresh ring is all zeros.
	r.cachedProd = atomic.LoadUint32(r.producer)
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return r, unsafe.Pointer(&mem[off.Desc]), nil
}

func (r *ringIndices) unmap() error {
	if r.mapping == nil {
		return nil
	}
	err := unix.Munmap(r.mapping)
	r.mapping = nil
	return err
}

// freeForProducer returns how many slots the producer may fill, reloading the
// consumer index (acquire) only if the cached view has fewer than want.
func (r *ringIndices) freeForProducer(want uint32) uint32 {
	free := r.size - (r.cachedProd - r.cachedCons)
	if free >= want {
		return free
	}
	r.cachedCons = atomic.LoadUint32(r.consumer) // acquire: the kernel is done with those slots
	return r.size - (r.cachedProd - r.cachedCons)
}

// availableForConsumer returns how many entries the consumer may read,
// reloading the producer index (acquire) only if the cached view has fewer
// than want.
func (r *ringIndices) availableForConsumer(want uint32) uint32 {
	avail := r.cachedProd - r.cachedCons
	if avail >= want {
		return avail
	}
	r.cachedProd = atomic.LoadUint32(r.producer) // acquire: the entries it covers are written
	return r.cachedProd - r.cachedCons
}

// publishProducer stores the cached producer index (release).
func (r *ringIndices) publishProducer() { atomic.StoreUint32(r.producer, r.cachedProd) }

// publishConsumer stores the cached consumer index (release).
func (r *ringIndices) publishConsumer() { atomic.StoreUint32(r.consumer, r.cachedCons) }

// needWakeup reports whether the kernel has asked to be kicked. The flag is
// written by the kernel without ordering against our indices; a stale read
// only costs one needless or one late wakeup, which the callers tolerate.
func (r *ringIndices) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

func minU32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}
