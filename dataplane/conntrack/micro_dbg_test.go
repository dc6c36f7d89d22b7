package conntrack

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/internal/clock"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkDbgChurnTableOnly(b *testing.B) {
	const n = 1_000_000
	tb, _ := New(Config{MaxEntries: n + n/8, Clock: clock.NewReal()})
	keys := make([]Key, n+n/8)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	for i := 0; i < n; i++ {
		tb.Insert(keys[i], StateEstablished)
	}
	var sm sync.Map
	boxed := make([]any, len(keys))
	for i := range keys {
		boxed[i] = keys[i]
	}
	for i := 0; i < n; i++ {
		sm.Store(boxed[i], benchValue)
	}
	L := len(keys)
	b.ResetTimer()
	c0, w0 := cpuNow(), time.Now()
	for i := 0; i < b.N; i++ {
		tb.Insert(keys[(i+n)%L], StateEstablished)
		tb.Delete(keys[i%L])
	}
	c1, w1 := cpuNow(), time.Now()
	for i := 0; i < b.N; i++ {
		sm.Store(boxed[(i+n)%L], benchValue)
		sm.Delete(boxed[i%L])
	}
	c2, w2 := cpuNow(), time.Now()
	b.ReportMetric(float64(c1-c0)/float64(b.N), "tbl-cpu-ns/op")
	b.ReportMetric(float64(w1.Sub(w0))/float64(b.N), "tbl-wall-ns/op")
	b.ReportMetric(float64(c2-c1)/float64(b.N), "sm-cpu-ns/op")
	b.ReportMetric(float64(w2.Sub(w1))/float64(b.N), "sm-wall-ns/op")
}
