package conntrack

import (
	"syscall"
	"unsafe"
)

const hugePage = 2 << 20

// adviseHuge asks the kernel to back the 2 MiB-aligned interior of
// [p, p+size) with transparent huge pages (MADV_HUGEPAGE), before the table
// first writes it. Random lookups over a 1M-entry table then miss the TLB
// far less. The memory stays on the Go heap (it is pointer-free); the call
// is advice, and failure (THP off) changes nothing but speed.
func adviseHuge(p unsafe.Pointer, size uintptr) {
	start := (uintptr(p) + hugePage - 1) &^ (hugePage - 1)
	end := (uintptr(p) + size) &^ (hugePage - 1)
	if end <= start {
		return
	}
	b := unsafe.Slice((*byte)(p), size)
	off := start - uintptr(p)
	_ = syscall.Madvise(b[off:off+(end-start)], syscall.MADV_HUGEPAGE)
}
