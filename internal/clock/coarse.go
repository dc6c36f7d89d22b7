package clock

import (
	"sync/atomic"
	"time"
)

// Coarse is a Clock that reads the runtime's monotonic clock once per
// resolution, from a goroutine of its own, and hands out that reading: Now is
// one atomic load instead of a clock read. It is for the packet path, where
// a clock read per packet costs more than the rest of connection tracking's
// arithmetic, and timeouts are counted in seconds.
//
// Now is at most one resolution (plus scheduling delay) behind Real time and
// never goes backwards. Close stops the goroutine.
type Coarse struct {
	now  atomic.Int64 // written by the ticker goroutine (release), read by Now (acquire)
	stop chan struct{}
}

// NewCoarse starts a Coarse clock with the given resolution (at least 100µs)
// that reads like a Real clock made now (Unix-epoch nanoseconds).
func NewCoarse(resolution time.Duration) *Coarse {
	resolution = max(resolution, 100*time.Microsecond)
	origin := NewReal()
	c := &Coarse{stop: make(chan struct{})}
	c.now.Store(origin.Now())
	go func() {
		t := time.NewTicker(resolution)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				if d := origin.Now(); d > c.now.Load() {
					c.now.Store(d)
				}
			}
		}
	}()
	return c
}

// Now returns nanoseconds since the clock's origin, to within a resolution.
func (c *Coarse) Now() int64 { return c.now.Load() }

// Close stops the clock; Now keeps returning the last reading.
func (c *Coarse) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}
