//go:build !race

package conntrack

import (
	"sync/atomic"
	"unsafe"
)

// initStore64 writes word a of an entry that no lookup can return and no
// other writer touches: one initEntry fills, after popping it off a free
// stack and before publishing it by turning its gen odd. A plain store,
// not an atomic one: an atomic store is a locked XCHG on amd64 (6 ns each
// on the lab VM, a dozen of them per insert), a plain one a MOV.
//
// Ordering: the gen.Add that publishes the entry is a sequentially
// consistent read-modify-write, so every store before it is visible to a
// reader that loads the new gen (acquire), as the atomic stores were.
// Readers may still load the words while they change: a lookup whose walk
// was diverted onto the entry when it was removed (it checks gen again
// after comparing, see entry, and drops what it read), a pop that read the
// entry's next[0] as its lane's top (its CAS then fails on the lane's
// tag). Go defines such a word-sized racy load to return the old or the
// new value, never a mix of the two. Under the race detector the store is
// atomic (initstore_race.go): the detector cannot know that those readers
// drop what they read, and reports nothing.
func initStore64(a *atomic.Uint64, v uint64) {
	*(*uint64)(unsafe.Pointer(a)) = v
}

// initStoreInt64 is initStore64 for an atomic.Int64.
func initStoreInt64(a *atomic.Int64, v int64) {
	*(*int64)(unsafe.Pointer(a)) = v
}

// initStore32 is initStore64 for an atomic.Uint32.
func initStore32(a *atomic.Uint32, v uint32) {
	*(*uint32)(unsafe.Pointer(a)) = v
}
