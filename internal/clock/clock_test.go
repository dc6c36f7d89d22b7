package clock

import (
	"testing"
	"time"
)

func TestManual(t *testing.T) {
	m := NewManual(5)
	if got := m.Now(); got != 5 {
		t.Fatalf("Now() = %d, want 5", got)
	}
	if got := m.Advance(time.Second); got != 5+int64(time.Second) {
		t.Fatalf("Advance = %d", got)
	}
	m.Advance(-time.Hour)
	m.Set(1)
	if got := m.Now(); got != 5+int64(time.Second) {
		t.Fatalf("clock went backwards: %d", got)
	}
	m.Set(int64(time.Hour))
	if got := m.Now(); got != int64(time.Hour) {
		t.Fatalf("Set: %d", got)
	}
}

func TestRealMonotonic(t *testing.T) {
	var c Clock = NewReal()
	a := c.Now()
	b := c.Now()
	if a < 0 || b < a {
		t.Fatalf("not monotonic: %d then %d", a, b)
	}
}

// TestRealReadsWallClock: two Real clocks made 200ms apart (two processes, two
// members) read the same time, the wall clock's, not time since each was
// made; replicated versions compare across members only so.
func TestRealReadsWallClock(t *testing.T) {
	a := NewReal()
	time.Sleep(200 * time.Millisecond)
	b := NewReal()
	// A loaded machine may pause the test between the reads: allow 50ms,
	// well under the 200ms between the clocks' origins.
	if d := time.Duration(a.Now() - b.Now()); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("clocks made 200ms apart read %v apart", d)
	}
	if d := time.Duration(time.Now().UnixNano() - b.Now()); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("Real reads %v off the wall clock", d)
	}
}
