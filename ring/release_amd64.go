//go:build amd64 && !race && !ringatomic

package ring

import "sync/atomic"

// storeRelease stores v in *p with release ordering: every load and store
// before it happens before any load of *p that observes v.
//
// It is a plain MOV, in assembly (release_amd64.s). x86-64 keeps a store after
// every earlier load and store of the same core (TSO), and the compiler does
// not move memory operations across a call, so the MOV is a release store;
// the loads it pairs with are sync/atomic Loads, plain MOVs that x86-64 keeps
// before every later load and store (acquire). sync/atomic's Store is an XCHG
// instead: a full barrier that waits until the core owns the cache line, which
// the other side is polling. On the 2-core benchmark machine that wait doubled
// the median single Enqueue of SPSC (about 100 ns against 50 ns).
//
// -race builds and -tags ringatomic use the sync/atomic version (release.go).
//
//go:noescape
func storeRelease(p *atomic.Uint64, v uint64)
