package clock

import (
	"sync/atomic"
	"time"
)

// Clock is a monotonic time source.
//
// Now returns nanoseconds since the clock's origin. It never goes backwards.
// Implementations are safe for concurrent use.
type Clock interface {
	Now() int64
}

// Real is a Clock backed by the runtime's monotonic clock, aligned to the
// wall clock once, when it is made: Now reads nanoseconds since the Unix
// epoch as of NewReal, advancing monotonically from there. Two members'
// Real clocks (two processes, two machines) agree as well as their wall
// clocks did at start (NTP: within milliseconds), which the connection
// table's versions and the sync path's delayed notifications rely on: a
// replicated record's version is its creation time on the sender's clock.
type Real struct {
	start time.Time
	base  int64
}

// NewReal returns a Real clock reading the wall-clock time now.
func NewReal() *Real {
	now := time.Now()
	return &Real{start: now, base: now.UnixNano()}
}

// Now returns the clock's reading: the Unix time at NewReal plus the
// monotonic nanoseconds elapsed since.
func (r *Real) Now() int64 {
	return r.base + int64(time.Since(r.start))
}

// Manual is a Clock that moves only when told to. Its zero value reads 0.
// It is safe for concurrent use.
type Manual struct {
	now atomic.Int64
}

// NewManual returns a Manual clock reading start.
func NewManual(start int64) *Manual {
	m := &Manual{}
	m.now.Store(start)
	return m
}

// Now returns the current manual time.
func (m *Manual) Now() int64 {
	return m.now.Load()
}

// Advance moves the clock forward by d and returns the new time. A negative d
// is ignored: a Clock never goes backwards.
func (m *Manual) Advance(d time.Duration) int64 {
	if d < 0 {
		return m.now.Load()
	}
	return m.now.Add(int64(d))
}

// Set moves the clock to t if t is later than the current time.
func (m *Manual) Set(t int64) {
	for {
		cur := m.now.Load()
		if t <= cur || m.now.CompareAndSwap(cur, t) {
			return
		}
	}
}
