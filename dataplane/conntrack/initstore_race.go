//go:build race

package conntrack

import "sync/atomic"

// initStore64 writes word a of an entry not yet published (see the !race
// version): atomically under the race detector.
func initStore64(a *atomic.Uint64, v uint64) { a.Store(v) }

// initStoreInt64 is initStore64 for an atomic.Int64.
func initStoreInt64(a *atomic.Int64, v int64) { a.Store(v) }

// initStore32 is initStore64 for an atomic.Uint32.
func initStore32(a *atomic.Uint32, v uint32) { a.Store(v) }
