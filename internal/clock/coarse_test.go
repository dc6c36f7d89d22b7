package clock

import (
	"testing"
	"time"
)

func TestCoarseFollowsTimeWithinResolution(t *testing.T) {
	const res = time.Millisecond
	c := NewCoarse(res)
	defer c.Close()
	r := NewReal()
	time.Sleep(20 * time.Millisecond)
	last := c.Now()
	for i := 0; i < 50; i++ {
		time.Sleep(time.Millisecond)
		now := c.Now()
		if now < last {
			t.Fatalf("went backwards: %d after %d", now, last)
		}
		last = now
	}
	// Both clocks started together; the coarse one lags by at most a few
	// resolutions (ticker and scheduling delay on a loaded machine).
	if lag := time.Duration(r.Now() - c.Now()); lag < -res || lag > 50*res { // origins differ by a few µs
		t.Fatalf("coarse clock %v behind real time", lag)
	}
}

func BenchmarkClocks(b *testing.B) {
	for _, c := range []struct {
		name string
		clk  Clock
	}{{"real", NewReal()}, {"coarse", NewCoarse(time.Millisecond)}} {
		b.Run(c.name, func(b *testing.B) {
			var sink int64
			for i := 0; i < b.N; i++ {
				sink += c.clk.Now()
			}
			_ = sink
		})
	}
}
