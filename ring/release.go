//go:build !amd64 || race || ringatomic

package ring

import "sync/atomic"

// storeRelease stores v in *p with (at least) release ordering: every load
// and store before it happens before any load of *p that observes v.
//
// This version is a sync/atomic Store, sequentially consistent. It serves
// architectures without an assembly version, -race builds (so that the race
// detector checks every happens-before edge the rings rely on), and builds
// with -tags ringatomic. See release_amd64.go.
func storeRelease(p *atomic.Uint64, v uint64) { p.Store(v) }
