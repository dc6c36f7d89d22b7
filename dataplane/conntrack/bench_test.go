package conntrack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/internal/clock"
)

// The benchmarks run the table and, in the same run, on the same keys and
// the same number of operations, a sync.Map and a map behind a
// sync.RWMutex, at least minCompareOps of them whatever -benchtime says.
// ns/op is the table's wall time. ratio-to-syncmap and
// ratio-to-rwmap are the baseline's CPU time over the table's for the same
// operations (above 1: the table is faster), from getrusage around each
// chunk: this 2-core machine is shared and often oversubscribed, and wall
// time then mostly measures how long the process waited for a core.
// wall-ratio-to-* are the same ratios from wall time. The three stores
// alternate in chunks so drift hits them alike; the baselines' garbage is
// collected before the table's chunks (each baseline pays for the
// collections its own chunk triggers).
//
//	go test -run '^$' -bench . -benchtime 1s -count 3 ./dataplane/conntrack

var benchSizes = []struct {
	name string
	n    int
}{{"1K", 1000}, {"100K", 100_000}, {"1M", 1_000_000}}

// store is the operations the benchmarks compare.
type store interface {
	lookupHit(j int) bool // the j-th key of fixture.hits
	insert(i int)
	del(i int)
}

// fixture holds n keys present in all three stores. keys[:stable] are
// never removed (lookups use them); keys[stable:] plus spare keys form two
// churn partitions, one per goroutine.
type fixture struct {
	keys  []Key
	boxed []any // keys boxed once, so sync.Map pays no conversion per call
	miss  []Key
	missB []any
	// hits are keys[:stable] in a random order, the order the lookup
	// benchmarks ask for them; hitsBoxed the same keys boxed in that
	// order. The benchmarks read them front to back: a packet's key is
	// built from the headers just parsed and sits in the L1 cache, and a
	// lookup benchmark that fetched each key from a random place in the
	// 60 MB key array charged every store a cache miss that was no part
	// of its lookup.
	hits      []Key
	hitsBoxed []any
	stable    int
	parts     [2]churnPart
	stores    [3]store
	w         [2]worker // per goroutine
}

// worker is one benchmark goroutine's mutable state, padded so that the
// two goroutines never write the same cache line: a cursor line bouncing
// between the cores on every operation would cost the faster store the
// most, and is no part of what is measured.
type worker struct {
	_      [64]byte
	curs   [3]int // churn cursor per store
	batch  [opBlock]Key
	batch2 [opBlock]Key
	hits   [opBlock]Hit
	_      [64]byte
}

// opBlock is how many operations a benchmark op function does per call:
// the engine's receive batch.
const opBlock = 64

type churnPart struct {
	idx     []int // key indices: the first live are present
	live    int
	present int
}

type tableStore struct {
	f  *fixture
	tb *Table
}

func (s *tableStore) lookupHit(j int) bool { _, _, ok := s.tb.Lookup(s.f.hits[j]); return ok }
func (s *tableStore) insert(i int)         { s.tb.Insert(s.f.keys[i], StateEstablished) }
func (s *tableStore) del(i int)            { s.tb.Delete(s.f.keys[i]) }

type syncMapStore struct {
	f *fixture
	m sync.Map
}

var benchValue = new(Ref)

func (s *syncMapStore) lookupHit(j int) bool { _, ok := s.m.Load(s.f.hitsBoxed[j]); return ok }
func (s *syncMapStore) insert(i int)         { s.m.Store(s.f.boxed[i], benchValue) }
func (s *syncMapStore) del(i int)            { s.m.Delete(s.f.boxed[i]) }

type rwMapStore struct {
	f  *fixture
	mu sync.RWMutex
	m  map[Key]*Ref
}

func (s *rwMapStore) lookupHit(j int) bool {
	s.mu.RLock()
	_, ok := s.m[s.f.hits[j]]
	s.mu.RUnlock()
	return ok
}

func (s *rwMapStore) insert(i int) {
	s.mu.Lock()
	s.m[s.f.keys[i]] = benchValue
	s.mu.Unlock()
}

func (s *rwMapStore) del(i int) {
	s.mu.Lock()
	delete(s.m, s.f.keys[i])
	s.mu.Unlock()
}

func benchKey(i int) Key {
	// Distinct clients talking to a few servers, like a gateway's table.
	src := ip4(10, byte(i>>16), byte(i>>8), byte(i))
	dst := ip4(198, 51, 100, byte(i%7))
	return tcpKey(src, uint16(1024+i%50000), dst, 443)
}

var (
	fixMu    sync.Mutex
	fixName  string
	fix      *fixture
	fixClock *clock.Coarse
)

// getFixture builds (once, outside any timer) the stores for n entries,
// dropping the previous size's to bound memory.
func getFixture(b *testing.B, name string, n int) *fixture {
	fixMu.Lock()
	defer fixMu.Unlock()
	if fixName == name {
		return fix
	}
	fix, fixName = nil, ""
	runtime.GC()
	// Half the connections churn, FIFO, through as many spare keys: every
	// insert and delete touches a cold key, as connection churn does.
	churn := n / 2
	spare := churn
	f := &fixture{stable: n - churn}
	total := n + spare
	f.keys = make([]Key, total)
	f.boxed = make([]any, total)
	for i := range f.keys {
		f.keys[i] = benchKey(i)
		f.boxed[i] = f.keys[i]
	}
	f.miss = make([]Key, 1<<16)
	f.missB = make([]any, len(f.miss))
	for i := range f.miss {
		f.miss[i] = benchKey(total + i)
		f.miss[i].DstPort = 8443
		f.missB[i] = f.miss[i]
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(f.stable)
	f.hits = make([]Key, f.stable)
	f.hitsBoxed = make([]any, f.stable)
	for j, i := range order {
		f.hits[j] = f.keys[i]
		f.hitsBoxed[j] = f.hits[j]
	}
	for p := range f.parts {
		part := &f.parts[p]
		for i := f.stable + p; i < n; i += 2 {
			part.idx = append(part.idx, i)
		}
		part.present = len(part.idx)
		for i := n + p; i < total; i += 2 {
			part.idx = append(part.idx, i)
		}
		part.live = len(part.idx)
	}
	// Sized with 1/8 headroom, as a deployment would be; BenchmarkMemory
	// measures a table filled to exactly MaxEntries. The clock is the
	// packet path's: a coarse clock read with one atomic load (a real clock
	// read costs ~40 ns on this VM, a sixth of a cached insert+delete).
	if fixClock != nil {
		fixClock.Close()
	}
	fixClock = clock.NewCoarse(time.Millisecond)
	tb, err := New(Config{MaxEntries: n + n/8, Clock: fixClock, Self: 1})
	if err != nil {
		b.Fatal(err)
	}
	ts := &tableStore{f: f, tb: tb}
	ss := &syncMapStore{f: f}
	rs := &rwMapStore{f: f, m: make(map[Key]*Ref)}
	f.stores = [3]store{ts, ss, rs}
	present := func(fn func(i int)) {
		for i := 0; i < f.stable; i++ {
			fn(i)
		}
		for p := range f.parts {
			for _, i := range f.parts[p].idx[:f.parts[p].present] {
				fn(i)
			}
		}
	}
	for _, s := range f.stores {
		present(s.insert)
	}
	if tb.Len() != n {
		b.Fatalf("table holds %d of %d", tb.Len(), n)
	}
	fix, fixName = f, name
	return f
}

// churnOp replaces the oldest present key of partition p with the next one
// in store s: one insert and one delete.
func (f *fixture) churnOp(si, p int) {
	part := &f.parts[p]
	c := f.w[p].curs[si]
	s := f.stores[si]
	s.insert(part.idx[(c+part.present)%part.live])
	s.del(part.idx[c%part.live])
	f.w[p].curs[si] = c + 1
}

// benchOp does operations i..i+n-1 (n <= opBlock) of goroutine g on store
// si.
type benchOp func(f *fixture, si, g, i, n int)

// hitPos is the position in fixture.hits of goroutine g's i-th lookup.
func hitPos(f *fixture, g, i int) int { return (i + g*7919) % len(f.hits) }

// opLookupHit: the table answers a block with LookupBatch, as the engine
// does for a receive batch; the baselines have no batch call and loop.
func opLookupHit(f *fixture, si, g, i, n int) {
	if ts, ok := f.stores[si].(*tableStore); ok {
		for j := 0; j < n; j++ {
			f.w[g].batch[j] = f.hits[hitPos(f, g, i+j)]
		}
		if ts.tb.LookupBatch(f.w[g].batch[:n], f.w[g].hits[:n]) != n {
			panic("hit key missing")
		}
		return
	}
	for j := 0; j < n; j++ {
		f.stores[si].lookupHit(hitPos(f, g, i+j))
	}
}

// opLookupHitSingle: one Lookup call per key for all three.
func opLookupHitSingle(f *fixture, si, g, i, n int) {
	for j := 0; j < n; j++ {
		if !f.stores[si].lookupHit(hitPos(f, g, i+j)) {
			panic("hit key missing")
		}
	}
}

func missIndex(f *fixture, g, i int) int { return (i + g*7919) & (len(f.miss) - 1) }

func opLookupMiss(f *fixture, si, g, i, n int) {
	found := 0
	switch s := f.stores[si].(type) {
	case *tableStore:
		for j := 0; j < n; j++ {
			f.w[g].batch[j] = f.miss[missIndex(f, g, i+j)]
		}
		found = s.tb.LookupBatch(f.w[g].batch[:n], f.w[g].hits[:n])
	case *syncMapStore:
		for j := 0; j < n; j++ {
			if _, ok := s.m.Load(f.missB[missIndex(f, g, i+j)]); ok {
				found++
			}
		}
	case *rwMapStore:
		for j := 0; j < n; j++ {
			s.mu.RLock()
			_, ok := s.m[f.miss[missIndex(f, g, i+j)]]
			s.mu.RUnlock()
			if ok {
				found++
			}
		}
	}
	if found != 0 {
		panic("miss key found")
	}
}

// opChurn: the table prefetches the block's keys (Table.Prefetch, as the
// engine does per receive batch) and then inserts and deletes one key at a
// time; the baselines have no prefetch and just insert and delete.
func opChurn(f *fixture, si, g, i, n int) {
	if ts, ok := f.stores[si].(*tableStore); ok {
		part := &f.parts[g]
		c := f.w[g].curs[si]
		for j := 0; j < n; j++ {
			f.w[g].batch[j] = f.keys[part.idx[(c+j+part.present)%part.live]]
			f.w[g].batch2[j] = f.keys[part.idx[(c+j)%part.live]]
		}
		ts.tb.Prefetch(f.w[g].batch[:n])
		ts.tb.Prefetch(f.w[g].batch2[:n])
	}
	for j := 0; j < n; j++ {
		f.churnOp(si, g)
	}
}

// opChurnSingle: insert and delete one key at a time for all three.
func opChurnSingle(f *fixture, si, g, i, n int) {
	for j := 0; j < n; j++ {
		f.churnOp(si, g)
	}
}

// opMix: 90% lookup hits (batched for the table), 10% churn operations.
func opMix(f *fixture, si, g, i, n int) {
	ts, batched := f.stores[si].(*tableStore)
	m := 0
	for j := 0; j < n; j++ {
		if (i+j)%10 == 9 {
			f.churnOp(si, g)
			continue
		}
		if batched {
			f.w[g].batch[m] = f.hits[hitPos(f, g, i+j)]
			m++
		} else {
			f.stores[si].lookupHit(hitPos(f, g, i+j))
		}
	}
	if batched {
		ts.tb.LookupBatch(f.w[g].batch[:m], f.w[g].hits[:m])
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runOps runs n operations of op on store si with g goroutines and returns
// the wall time and the CPU time.
func runOps(f *fixture, si, g, n, start int, op benchOp) (wall, cpu time.Duration) {
	c0 := cpuTime()
	w := runOpsWall(f, si, g, n, start, op)
	return w, cpuTime() - c0
}

func runOpsWall(f *fixture, si, g, n, start int, op benchOp) time.Duration {
	t0 := time.Now()
	run := func(gi, n int) {
		for i := start; i < start+n; i += opBlock {
			op(f, si, gi, i, min(opBlock, start+n-i))
		}
	}
	if g == 1 {
		run(0, n)
		return time.Since(t0)
	}
	var wg sync.WaitGroup
	for gi := 0; gi < g; gi++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(gi, n/g)
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

// minCompareOps is the fewest operations benchCompare runs on each store.
const minCompareOps = 1 << 17

func benchCompare(b *testing.B, op benchOp) {
	for _, sz := range benchSizes {
		for _, g := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/g%d", sz.name, g), func(b *testing.B) {
				f := getFixture(b, sz.name, sz.n)
				const chunks = 4
				var spent, cpu [3]time.Duration
				b.StopTimer()
				b.ResetTimer()
				// At least minCompareOps operations whatever b.N: a ratio
				// of one operation's times (-benchtime 1x, the CI smoke
				// run) is noise.
				ops := max(b.N, minCompareOps)
				done := 0
				for c := 0; c < chunks; c++ {
					n := (ops - done) / (chunks - c)
					for si := range f.stores {
						if si == 0 {
							// The baselines' garbage is collected
							// before the table's chunk, not during it;
							// each baseline pays for its own.
							runtime.GC()
							b.StartTimer()
						}
						w, c := runOps(f, si, g, n, done, op)
						spent[si] += w
						cpu[si] += c
						if si == 0 {
							b.StopTimer()
						}
					}
					done += n
				}
				b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "ratio-to-syncmap")
				b.ReportMetric(float64(cpu[2])/float64(cpu[0]), "ratio-to-rwmap")
				b.ReportMetric(float64(spent[1])/float64(spent[0]), "wall-ratio-to-syncmap")
				b.ReportMetric(float64(spent[2])/float64(spent[0]), "wall-ratio-to-rwmap")
				b.ReportMetric(float64(spent[0])/float64(ops), "ns/op")
				b.ReportMetric(float64(spent[1])/float64(ops), "syncmap-ns/op")
				b.ReportMetric(float64(spent[2])/float64(ops), "rwmap-ns/op")
			})
		}
	}
}

// BenchmarkLookupHit: the table through LookupBatch (blocks of 64 keys, the
// engine's receive batch); sync.Map and the RWMutex map one key at a time,
// having no batch call.
func BenchmarkLookupHit(b *testing.B) { benchCompare(b, opLookupHit) }

// BenchmarkLookupHitSingle: one Lookup call per key for all three.
func BenchmarkLookupHitSingle(b *testing.B) { benchCompare(b, opLookupHitSingle) }

// BenchmarkLookupMiss: keys not in the table (batched for the table).
func BenchmarkLookupMiss(b *testing.B) { benchCompare(b, opLookupMiss) }

// BenchmarkChurn: one op is an insert of a new connection plus the delete of
// an old one, the table staying at its size; the table prefetches each
// block of 64 ops' keys first.
func BenchmarkChurn(b *testing.B) { benchCompare(b, opChurn) }

// BenchmarkChurnSingle: BenchmarkChurn without the prefetch.
func BenchmarkChurnSingle(b *testing.B) { benchCompare(b, opChurnSingle) }

// BenchmarkMix90: 90% lookup hits, 10% churn operations.
func BenchmarkMix90(b *testing.B) { benchCompare(b, opMix) }

// BenchmarkMemory reports the table's bytes per entry at 1M entries, all
// NATed, measured as heap growth (runtime.MemStats.HeapAlloc) around New
// and the inserts, beside sync.Map's and the RWMutex map's on the same keys.
func BenchmarkMemory(b *testing.B) {
	b.Run("1M", func(b *testing.B) {
		const n = 1_000_000
		fixMu.Lock()
		fix, fixName = nil, "" // free the shared fixture first
		fixMu.Unlock()
		keys := make([]Key, n)
		for i := range keys {
			keys[i] = benchKey(i)
		}
		heap := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		var tb *Table
		var per, perSync, perRW float64
		for i := 0; i < b.N; i++ {
			tb = nil //nolint:ineffassign // drops the previous table, so heap() measures without it
			before := heap()
			var err error
			tb, err = New(Config{
				MaxEntries: n,
				SNAT: []SNATPool{{Addrs: []netip.Addr{addr("203.0.113.1"), addr("203.0.113.2"),
					addr("203.0.113.3"), addr("203.0.113.4")}, PortMin: 1024, PortMax: 65535}},
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range keys {
				if _, err := tb.InsertNAT(k, StateEstablished, snat0); err != nil {
					b.Fatal(err)
				}
			}
			per = float64(heap()-before) / n
			runtime.KeepAlive(tb)
			tb = nil //nolint:ineffassign // drops the previous table, so heap() measures without it

			before = heap()
			var sm sync.Map
			for _, k := range keys {
				sm.Store(k, benchValue)
			}
			perSync = float64(heap()-before) / n
			runtime.KeepAlive(&sm)

			before = heap()
			rw := make(map[Key]*Ref)
			for _, k := range keys {
				rw[k] = benchValue
			}
			perRW = float64(heap()-before) / n
			runtime.KeepAlive(rw)
		}
		b.ReportMetric(per, "B/entry")
		b.ReportMetric(perSync, "syncmap-B/entry")
		b.ReportMetric(perRW, "rwmap-B/entry")
	})
}
