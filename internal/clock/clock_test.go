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
