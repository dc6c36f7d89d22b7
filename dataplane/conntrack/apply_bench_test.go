package conntrack

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/internal/clock"
)

// Apply benchmark parameters: a backup's table as bench's full-sync
// benchmark builds it (2M slots), 1M connections, applied in frames of
// 350 records (a FULLSYNC_CHUNK or DELTA frame at MTU 9000).
const (
	applyCap   = 1 << 21
	applyConns = 1 << 20
	applyFrame = 350
)

var (
	applyRecsOnce sync.Once
	applyRecs     []Record
)

// applyBenchKey is connection i's key: UDP 10.a.b.c:port → 192.0.2.1:53,
// as bench's benchKey.
func applyBenchKey(i int) Key {
	return udpKey(ip4(10, byte(i>>16), byte(i>>8), byte(i)), uint16(1024+i%60000), ip4(192, 0, 2, 1), 53)
}

// applyBenchRecords returns the full-sync records of 1M UDP connections:
// an active table's, made by Track and read by Range in table order, as a
// full sync sends them. Built once.
func applyBenchRecords(b *testing.B) []Record {
	applyRecsOnce.Do(func() {
		to := DefaultTimeouts()
		to.UDP, to.UDPStream = time.Hour, time.Hour
		active, err := New(Config{MaxEntries: applyCap, Self: 1, Clock: clock.NewManual(int64(time.Hour)), Timeouts: to})
		if err != nil {
			panic(err)
		}
		for i := range applyConns {
			if res := active.Track(applyBenchKey(i), Segment{}, NATRequest{}); res.Verdict != Accept || !res.New {
				panic("creating a benchmark connection failed")
			}
		}
		applyRecs = make([]Record, 0, applyConns)
		active.Range(func(r Record) bool {
			applyRecs = append(applyRecs, r)
			return true
		})
	})
	if len(applyRecs) != applyConns {
		b.Fatalf("%d records, want %d", len(applyRecs), applyConns)
	}
	return applyRecs
}

// newApplyBenchTable returns an empty backup table (member 2), garbage
// collecting the previous one first so that it does not run in the timed
// section.
func newApplyBenchTable(b *testing.B) *Table {
	runtime.GC()
	to := DefaultTimeouts()
	to.UDP, to.UDPStream = time.Hour, time.Hour
	tb, err := New(Config{MaxEntries: applyCap, Self: 2, Clock: clock.NewManual(int64(2 * time.Hour)), Timeouts: to})
	if err != nil {
		b.Fatal(err)
	}
	return tb
}

// applyFn applies one frame of records the way a sync session does.
type applyFn func(tb *Table, recs []Record, keys []Key, res []ApplyResult)

// applySingle is the per-record path: Prefetch of the frame's keys, then
// Apply for each record.
func applySingle(tb *Table, recs []Record, keys []Key, res []ApplyResult) {
	tb.Prefetch(keys)
	for i := range recs {
		res[i] = tb.Apply(recs[i])
	}
}

// applyBatch is the batch path: ApplyBatch for the frame.
func applyBatch(tb *Table, recs []Record, _ []Key, res []ApplyResult) {
	tb.ApplyBatch(recs, res)
}

// BenchmarkApply measures a backup applying replicated records, in frames
// of 350, reporting ns/record:
//   - empty: 1M new connections into an empty 2M-slot table, a full sync
//     into a fresh backup (a new table every 1M records, built with the
//     timer stopped);
//   - update: newer versions of connections the table holds (keepalives,
//     state changes, the full sync of a backup that has them);
//   - stale: records the table already holds (duplicates);
//
// each through Apply per record after Prefetch (single) and through
// ApplyBatch (batch). cpu-ns/record is the process's CPU time per record:
// other jobs on a busy machine disturb it less than the wall time.
func BenchmarkApply(b *testing.B) {
	for _, v := range []struct {
		name string
		fn   applyFn
	}{{"single", applySingle}, {"batch", applyBatch}} {
		b.Run("empty/"+v.name, func(b *testing.B) { benchApply(b, v.fn, 0) })
		b.Run("update/"+v.name, func(b *testing.B) { benchApply(b, v.fn, 1) })
		b.Run("stale/"+v.name, func(b *testing.B) { benchApply(b, v.fn, -1) })
	}
}

// benchApply applies b.N records. bump 0: each table gets each record
// once, from empty; bump 1: the table holds every connection and each pass
// adds one to the versions; bump -1: the table holds every record as is.
func benchApply(b *testing.B, fn applyFn, bump int) {
	recs := applyBenchRecords(b)
	frame := make([]Record, applyFrame)
	keys := make([]Key, applyFrame)
	res := make([]ApplyResult, applyFrame)
	tb := newApplyBenchTable(b)
	if bump != 0 {
		for i := range recs {
			if r := tb.Apply(recs[i]); r != Applied {
				b.Fatalf("filling: %v", r)
			}
		}
	}
	want := Applied
	if bump < 0 {
		want = ApplyStale
	}
	pass := uint64(0)
	next := 0
	var untimed time.Duration // CPU time spent building tables
	b.ResetTimer()
	c0 := cpuTime()
	for done := 0; done < b.N; {
		if next == len(recs) {
			next = 0
			if bump == 0 {
				b.StopTimer()
				u0 := cpuTime()
				tb = newApplyBenchTable(b)
				untimed += cpuTime() - u0
				b.StartTimer()
			} else if bump > 0 {
				pass++
			}
		}
		n := min(applyFrame, len(recs)-next, b.N-done)
		// The copy stands for the frame's decoding.
		f := frame[:n]
		copy(f, recs[next:next+n])
		if bump > 0 {
			for i := range f {
				f[i].Version += pass + 1
			}
		}
		for i := range f {
			keys[i] = f[i].Key
		}
		fn(tb, f, keys[:n], res[:n])
		if res[0] != want || res[n-1] != want {
			b.Fatalf("record %d: %v, want %v", next, res[0], want)
		}
		next += n
		done += n
	}
	b.StopTimer()
	cpu := cpuTime() - c0 - untimed
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
}
