package conntrack

import (
	"testing"
	"time"

	"github.com/tandem-gw/tandem/internal/clock"
)

// BenchmarkRangeFrom walks a full sync's snapshot of an active table
// (applyCap slots, applyConns connections made by Track) in RangeFrom
// calls of 256 slots, syncpath's ChunkSlots default, and reports the cost
// per live connection. It is the active member's first cost in a full
// sync.
func BenchmarkRangeFrom(b *testing.B) {
	to := DefaultTimeouts()
	to.UDP, to.UDPStream = time.Hour, time.Hour
	active, err := New(Config{MaxEntries: applyCap, Self: 1, Clock: clock.NewManual(int64(time.Hour)), Timeouts: to})
	if err != nil {
		b.Fatal(err)
	}
	for i := range applyConns {
		if res := active.Track(applyBenchKey(i), Segment{}, NATRequest{}); res.Verdict != Accept {
			b.Fatal("creating a benchmark connection failed")
		}
	}
	var seen int
	var sum uint64
	visit := func(r Record) bool {
		seen++
		sum += r.Version
		return true
	}
	b.ResetTimer()
	for b.Loop() {
		seen = 0
		for cur, done := uint32(0), false; !done; {
			cur, done = active.RangeFrom(cur, 256, visit)
		}
		if seen != applyConns {
			b.Fatalf("walk saw %d connections, want %d", seen, applyConns)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/applyConns, "ns/entry")
	b.ReportMetric(0, "ns/op")
}
