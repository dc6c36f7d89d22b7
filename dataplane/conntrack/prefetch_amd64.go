//go:build amd64

package conntrack

import "unsafe"

// prefetch asks the CPU to bring the cache line at p into its caches
// (PREFETCHT0, in assembly: prefetch_amd64.s). Unlike a load used as a
// prefetch, it does not hold up the instructions after it until the line
// arrives: a locked instruction (every atomic store, CAS and mutex
// operation) waits for all earlier loads, but not for prefetches. It reads
// nothing the race detector could see, and never faults.
//
//go:noescape
func prefetch(p unsafe.Pointer)
