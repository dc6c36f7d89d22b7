package xsk

// FreeList is a stack of free frame addresses in a UMEM, for one goroutine.
// Several FreeLists may split one UMEM between workers (each takes a range of
// frame indices).
//
// FreeList is not safe for concurrent use.
type FreeList struct {
	umem  *UMEM
	addrs []uint64
	n     int
}

// NewFreeList returns a FreeList holding frames first..first+count-1 of u
// (clamped to the area).
func NewFreeList(u *UMEM, first, count uint32) *FreeList {
	if first > u.frameCount {
		first = u.frameCount
	}
	if count > u.frameCount-first {
		count = u.frameCount - first
	}
	f := &FreeList{umem: u, addrs: make([]uint64, count)}
	for i := uint32(0); i < count; i++ {
		f.addrs[i] = u.FrameAddr(first + count - 1 - i) // lowest frame on top
	}
	f.n = int(count)
	return f
}

// Len is the number of free frames.
func (f *FreeList) Len() int { return f.n }

// Cap is the most frames the list can hold.
func (f *FreeList) Cap() int { return len(f.addrs) }

// Get pops up to len(out) frame addresses into out and returns how many.
func (f *FreeList) Get(out []uint64) int {
	n := min(len(out), f.n)
	copy(out[:n], f.addrs[f.n-n:f.n])
	f.n -= n
	return n
}

// Put pushes frame addresses back, normalised to their frame base, and
// returns how many it took. It takes fewer than len(addrs) only when the list
// is already full, which means a frame was returned twice: the caller counts
// that as a bug, and the list stays consistent.
func (f *FreeList) Put(addrs []uint64) int {
	n := min(len(addrs), len(f.addrs)-f.n)
	for i := 0; i < n; i++ {
		f.addrs[f.n+i] = f.umem.FrameBase(addrs[i])
	}
	f.n += n
	return n
}
