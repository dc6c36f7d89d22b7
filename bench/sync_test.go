package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/internal/histogram"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
	"github.com/tandem-gw/tandem/syncpath/synctest"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// CPU placement of the sync benchmarks (2 CPUs): the generator, standing
// in for the dataplane workers, on genCPU; the active's sync worker alone
// on syncCPU (the "one sync core"); the backup's sync worker, standing in
// for the other member's sync core, on backupCPU (BENCH_BACKUP_CPU
// overrides it). veth runs the receiver's XDP program and the copy into
// its UMEM on the sending CPU, so the active's frames cost syncCPU that
// work, and the backup's acks cost backupCPU.
const (
	genCPU  = 0
	syncCPU = 1
)

func backupCPU() int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_BACKUP_CPU")); err == nil {
		return v
	}
	return genCPU
}

// syncTransports makes a pair of transports over the lab's sync link:
// gw1's (member 1) and gw2's (member 2), AF_XDP or kernel UDP.
type syncTransports struct {
	name   string
	t1, t2 syncpath.Transport
	x1     *syncpath.XSKTransport // nil for UDP
}

func openSyncTransports(b *testing.B, l *lab.Lab, kind string) *syncTransports {
	port := uint16(ccp.UDPPort)
	gw1, gw2 := netip.AddrPortFrom(lab.GW1Sync, port), netip.AddrPortFrom(lab.GW2Sync, port)
	st := &syncTransports{name: kind}
	open := func(ns string, local netip.AddrPort, peer uint8, peerAddr netip.AddrPort) syncpath.Transport {
		var tr syncpath.Transport
		err := lab.Do(ns, func() error {
			peers := map[uint8]netip.AddrPort{peer: peerAddr}
			if kind == "udp" {
				u, err := syncpath.ListenUDP(syncpath.UDPConfig{Local: local, Peers: peers})
				tr = u
				return err
			}
			x, err := syncpath.ListenXSK(syncpath.XSKConfig{Ifname: lab.IfSync, Local: local, Peers: peers})
			if err == nil {
				tr = x
			}
			return err
		})
		if err != nil {
			b.Fatalf("opening the %s transport in %s: %v", kind, ns, err)
		}
		b.Cleanup(func() { tr.Close() })
		return tr
	}
	st.t1 = open(l.GW1, gw1, 2, gw2)
	st.t2 = open(l.GW2, gw2, 1, gw1)
	if x, ok := st.t1.(*syncpath.XSKTransport); ok {
		st.x1 = x
		x2 := st.t2.(*syncpath.XSKTransport)
		for deadline := time.Now().Add(5 * time.Second); !x.Resolved(2) || !x2.Resolved(1); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("the sync peers' MAC addresses were not resolved in 5s")
			}
		}
	}
	return st
}

// close closes both transports (an AF_XDP one keeps steering CCP away
// from the kernel's sockets until it is closed).
func (st *syncTransports) close() {
	st.t1.Close()
	st.t2.Close()
}

// bytesSent is the active's on-wire bytes: Ethernet frames without FCS
// (AF_XDP), or UDP payloads plus the same 42 bytes of Ethernet, IPv4 and
// UDP headers (kernel UDP).
func (st *syncTransports) bytesSent(c syncpath.Counters) uint64 {
	if st.x1 != nil {
		return st.x1.Stats().BytesSent
	}
	return c.BytesSent + 42*c.FramesSent
}

// syncPair is an active session on gw1 and a backup session on gw2, each
// with its own table, their sync workers pinned.
type syncPair struct {
	b              *testing.B
	clk            *clock.Coarse
	sink           *syncpath.Sink
	active, backup *conntrack.Table
	sa, sb         *syncpath.Session
	cancel         context.CancelFunc
	wg             sync.WaitGroup
	errs           chan error
	// tids are the sessions' threads (active, backup), for schedstat.
	tids [2]atomic.Int32
}

var syncEpoch atomic.Uint32

// benchTimeouts keeps the benchmarks' UDP connections for an hour.
func benchTimeouts() conntrack.Timeouts {
	to := conntrack.DefaultTimeouts()
	to.UDP, to.UDPStream = time.Hour, time.Hour
	return to
}

// startSyncPair starts the two sessions on st with tables of capacity
// entries and waits until the backup has taken its (empty) first full sync.
// sinkWrap, when not nil, wraps the sink the active table emits into.
func startSyncPair(b *testing.B, st *syncTransports, mtu, capacity int, sinkWrap func(*syncpath.Sink) conntrack.RecordSink) *syncPair {
	reserveProcs(b, 3) // the two sync workers and the generator
	sp := &syncPair{b: b, clk: clock.NewCoarse(time.Millisecond), errs: make(chan error, 2)}
	var err error
	if sp.sink, err = syncpath.NewSink(1 << 18); err != nil {
		b.Fatal(err)
	}
	var rs conntrack.RecordSink = sp.sink
	if sinkWrap != nil {
		rs = sinkWrap(sp.sink)
	}
	if sp.active, err = conntrack.New(conntrack.Config{MaxEntries: capacity, Self: 1, Clock: sp.clk, Timeouts: benchTimeouts(), Records: rs}); err != nil {
		b.Fatal(err)
	}
	sp.startSessions(b, st, mtu, capacity)
	sp.waitSynced(b, st, 30*time.Second) // an empty table's full sync: long only on a machine that is very busy
	return sp
}

// newBackupTable gives the backup an empty table.
func (sp *syncPair) newBackupTable(b *testing.B, capacity int) {
	var err error
	if sp.backup, err = conntrack.New(conntrack.Config{MaxEntries: capacity, Self: 2, Clock: sp.clk, Timeouts: benchTimeouts()}); err != nil {
		b.Fatal(err)
	}
}

// startSessions creates both sessions (sp.active and sp.sink are set, and
// sp.backup unless it is nil: then an empty table of capacity entries) and
// starts their sync workers.
func (sp *syncPair) startSessions(b *testing.B, st *syncTransports, mtu, capacity int) {
	var err error
	if sp.backup == nil {
		sp.newBackupTable(b, capacity)
	}
	keys := synctest.Keyring()
	epoch := uint32(time.Now().Unix()) + syncEpoch.Add(1)
	common := syncpath.Config{Cluster: 1, Epoch: epoch, Keys: keys, Delay: -1, MTU: mtu}
	ca, cb := common, common
	ca.Self, ca.Peer, ca.Transport, ca.Table, ca.Sink = 1, 2, st.t1, sp.active, sp.sink
	cb.Self, cb.Peer, cb.Transport, cb.Table = 2, 1, st.t2, sp.backup
	if sp.sa, err = syncpath.New(ca); err != nil {
		b.Fatal(err)
	}
	if sp.sb, err = syncpath.New(cb); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp.cancel = cancel
	// Each session's goroutine carries a "side" profiler label, so a CPU
	// profile (SYNC_CPUPROFILE) tells the active's costs from the backup's.
	run := func(s *syncpath.Session, cpu int, side string, tid *atomic.Int32) {
		sp.wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", side), func(ctx context.Context) {
			defer sp.wg.Done()
			if err := pin(cpu); err != nil {
				sp.errs <- err
				return
			}
			tid.Store(int32(unix.Gettid()))
			if err := s.Run(ctx); err != nil {
				sp.errs <- err
			}
		})
	}
	run(sp.sa, syncCPU, "active", &sp.tids[0])
	run(sp.sb, backupCPU(), "backup", &sp.tids[1])
	b.Cleanup(sp.stop)
}

// waitSynced waits until each session holds a full copy of the other's
// table (its first full sync is done).
func (sp *syncPair) waitSynced(b *testing.B, st *syncTransports, limit time.Duration) {
	for deadline := time.Now().Add(limit); !sp.sb.Synced() || !sp.sa.Synced(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			var xs [2]any
			if st.x1 != nil {
				xs[0], xs[1] = st.x1.Stats(), st.t2.(*syncpath.XSKTransport).Stats()
			}
			b.Fatalf("the sessions did not sync: active %+v, backup %+v; transports %+v", sp.sa.Counters(), sp.sb.Counters(), xs)
		}
	}
}

func (sp *syncPair) stop() {
	if sp.cancel == nil {
		return
	}
	sp.cancel()
	sp.cancel = nil
	sp.wg.Wait()
	sp.clk.Close()
	close(sp.errs)
	for err := range sp.errs {
		sp.b.Errorf("sync session: %v", err)
	}
}

// benchKey is connection i's key: UDP 10.a.b.c:port → 192.0.2.1:53.
func benchKey(i int) conntrack.Key {
	var src, dst [16]byte
	src[10], src[11], src[12], src[13], src[14], src[15] = 0xff, 0xff, 10, byte(i>>16), byte(i>>8), byte(i)
	dst[10], dst[11], dst[12], dst[13], dst[14], dst[15] = 0xff, 0xff, 192, 0, 2, 1
	return conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoUDP, src, dst, uint16(1024+i%60000), 53)
}

// sampleEvery is how many connections apart the end-to-end lag is sampled.
const sampleEvery = 1024

// replicateRun is the outcome of one generator run.
type replicateRun struct {
	rate  float64              // connections applied by the backup per second, first create to last applied
	e2e   *histogram.Histogram // created on the active until applied on the backup, sampled
	bytes uint64               // the active's on-wire bytes during the run
	recs  uint64               // records the active sent during the run
}

// generate creates n connections on the active, at rate per second (0: as
// fast as the sink takes them), on genCPU, while a watcher samples when the
// backup has applied them. Creation stalls while the sink is three quarters
// full, so that nothing overflows (an overflowed new record waits for the
// table's sweep, which this benchmark does not run).
func (sp *syncPair) generate(b *testing.B, st *syncTransports, first, n int, rate float64) replicateRun {
	run := replicateRun{e2e: new(histogram.Histogram)}
	created := make([]int64, n/sampleEvery+1) // ns since base when connection k*sampleEvery was created
	applied0 := sp.sb.Counters().Applied
	c0 := sp.sa.Counters()
	bytes0 := st.bytesSent(c0)
	base := time.Now()
	var genErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if genErr = pin(genCPU); genErr != nil {
			return
		}
		limit := sp.sink.Cap() * 3 / 4
		for i := 0; i < n; {
			now := time.Since(base)
			target := n
			if rate > 0 {
				target = min(n, int(now.Seconds()*rate)+1)
			}
			if target <= i || sp.sink.Len() > limit {
				if rate > 0 && target <= i {
					time.Sleep(time.Duration(float64(i-target+1)/rate*1e9) + 20*time.Microsecond)
				} else {
					time.Sleep(20 * time.Microsecond) // the sink is full: let the sync workers run
				}
				continue
			}
			for end := min(target, i+256); i < end; i++ {
				if i%sampleEvery == 0 {
					created[i/sampleEvery] = int64(time.Since(base))
				}
				if res := sp.active.Track(benchKey(first+i), conntrack.Segment{}, conntrack.NATRequest{}); res.Verdict != conntrack.Accept || !res.New {
					genErr = fmt.Errorf("creating connection %d: %v (new %v)", first+i, res.Verdict, res.New)
					return
				}
			}
		}
	}()
	// The watcher: the backup applies records in creation order (new
	// records leave the coalescer first in, first out), so when Applied
	// passes k, connection k has been applied.
	next := 0
	deadline := time.Now().Add(30*time.Second + time.Duration(float64(n)/max(rate, 1e5)*1e9))
	var last time.Duration
	for {
		got := int(sp.sb.Counters().Applied - applied0)
		now := time.Since(base)
		for ; next*sampleEvery < got && next < len(created); next++ {
			if c := created[next]; c != 0 {
				run.e2e.Record(uint64(max(int64(now)-c, 0)))
			}
		}
		if got >= n {
			last = now
			break
		}
		if time.Now().After(deadline) {
			<-done
			b.Fatalf("the backup applied %d of %d connections in time (generator: %v); active %+v; backup %+v",
				got, n, genErr, sp.sa.Counters(), sp.sb.Counters())
		}
		time.Sleep(50 * time.Microsecond)
	}
	<-done
	if genErr != nil {
		b.Fatal(genErr)
	}
	c := sp.sa.Counters()
	if os.Getenv("SYNC_DEBUG") != "" {
		b.Logf("rate %.0f/s; active %+v; backup %+v", float64(n)/last.Seconds(), c, sp.sb.Counters())
		if st.x1 != nil {
			b.Logf("transports: %+v / %+v", st.x1.Stats(), st.t2.(*syncpath.XSKTransport).Stats())
		}
	}
	run.rate = float64(n) / last.Seconds()
	run.bytes = st.bytesSent(c) - bytes0
	run.recs = c.RecordsSent - c0.RecordsSent
	return run
}

// BenchmarkReplicate replicates new connections from an active session on
// gw1 to a backup session on gw2 over the lab's sync link (veth, AF_XDP in
// copy mode, steering program attached natively), at MTU 1500 and 9000.
// Delayed notifications are off: every connection is sent. Connections are
// UDP, created on the active's table by conntrack Track (its records go
// into a syncpath.Sink, which the active's session drains), and counted
// when the backup's session has applied them.
//
// Two runs per MTU, each on fresh sessions and tables, because a generator
// flat out fills the queue and makes lag meaningless:
//
//   - flat out: n connections (at least 1M) created as fast as the sink
//     takes them (the generator waits while the sink is three quarters
//     full, so nothing is lost). sessions/s is n over the time from the
//     first creation to the backup having applied the last one: the
//     sustainable rate of the whole path (generator, active sync worker,
//     link, backup). The same run over the kernel UDP transport gives
//     udp-sessions/s and ratio-to-udp.
//   - paced: n connections created at 1M/s (the bar's rate). lag-p99-ms is
//     the active's Session.LagSnapshot p99 over this run: per frame, from
//     when its oldest record was drained from the sink until the backup's
//     ack arrived. e2e-p99-ms is measured by the benchmark itself, from
//     the creation of every 1024th connection until the backup's Applied
//     counter passed it (sampled every 50µs, so it includes the time in
//     the sink and the apply, which lag-p99-ms does not). paced-sessions/s
//     is the rate the backup kept up with.
//   - light: n/10 connections at 100K/s, where the path is far from full:
//     light-lag-p99-ms is the session's lag there, the protocol's floor
//     (ack interval, poll intervals) without the queue.
//
// B/record is the active's on-wire bytes in the flat-out run (Ethernet
// frames without preamble, FCS and gap: Ethernet, IPv4 and UDP headers, the
// CCP header, records and AEAD tag, and the heartbeats) over the records
// it sent.
//
// Placement: generator on CPU 0, active sync worker on CPU 1, backup sync
// worker on CPU 0 (BENCH_BACKUP_CPU), threads at nice -20 (BENCH_NO_NICE
// turns that off). One iteration is one connection; b.N below 1M runs 1M.
// SYNC_DEBUG=1 logs both sessions' and transports' counters after every
// phase.
func BenchmarkReplicate(b *testing.B) {
	for _, mtu := range []int{1500, 9000} {
		b.Run(fmt.Sprintf("mtu=%d", mtu), func(b *testing.B) {
			l := labtest.New(b, lab.Config{Queues: 1, SyncMTU: mtu})
			n := max(b.N, 1_000_000)
			capacity := 1 << 21
			xs := openSyncTransports(b, l, "xsk")

			sp := startSyncPair(b, xs, mtu, capacity, nil)
			flat := sp.generate(b, xs, 0, n, 0)
			sp.stop()
			runtime.GC()

			sp = startSyncPair(b, xs, mtu, capacity, nil)
			paced := sp.generate(b, xs, 0, n, 1e6)
			var lag histogram.Histogram
			sp.sa.LagSnapshot(&lag)
			sp.stop()
			runtime.GC()

			sp = startSyncPair(b, xs, mtu, capacity, nil)
			sp.generate(b, xs, 0, n/10, 1e5)
			var light histogram.Histogram
			sp.sa.LagSnapshot(&light)
			sp.stop()
			xs.close()
			runtime.GC()

			us := openSyncTransports(b, l, "udp")
			sp = startSyncPair(b, us, mtu, capacity, nil)
			udp := sp.generate(b, us, 0, n, 0)
			sp.stop()

			ms := func(ns uint64) float64 { return float64(ns) / 1e6 }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(flat.rate, "sessions/s")
			b.ReportMetric(ms(lag.Quantile(0.99)), "lag-p99-ms")
			b.ReportMetric(float64(flat.bytes)/float64(flat.recs), "B/record")
			b.ReportMetric(paced.rate, "paced-sessions/s")
			b.ReportMetric(ms(lag.Quantile(0.5)), "lag-p50-ms")
			b.ReportMetric(ms(light.Quantile(0.99)), "light-lag-p99-ms")
			b.ReportMetric(ms(paced.e2e.Quantile(0.99)), "e2e-p99-ms")
			b.ReportMetric(udp.rate, "udp-sessions/s")
			b.ReportMetric(flat.rate/udp.rate, "ratio-to-udp")
			b.Logf("mtu %d, %d connections: flat out %.0f/s (udp %.0f/s), %.1f B/record (udp %.1f); paced at 1M/s: %.0f/s, lag p50 %.2f ms p99 %.2f ms max %.2f ms, e2e p50 %.2f ms p99 %.2f ms; light (100K/s): lag p50 %.2f ms p90 %.2f ms p99 %.2f ms; cpus: generator %d, active sync %d, backup sync %d",
				mtu, n, flat.rate, udp.rate, float64(flat.bytes)/float64(flat.recs), float64(udp.bytes)/float64(udp.recs),
				paced.rate, ms(lag.Quantile(0.5)), ms(lag.Quantile(0.99)), ms(lag.Max()),
				ms(paced.e2e.Quantile(0.5)), ms(paced.e2e.Quantile(0.99)),
				ms(light.Quantile(0.5)), ms(light.Quantile(0.9)), ms(light.Quantile(0.99)), genCPU, syncCPU, backupCPU())
		})
	}
}

// timedSink times every Enqueue the table makes into the sink.
type timedSink struct {
	s    *syncpath.Sink
	h    histogram.Histogram
	base time.Time
	full int
}

func (t *timedSink) Enqueue(r conntrack.Record) bool {
	t0 := time.Since(t.base)
	ok := t.s.Enqueue(r)
	t.h.Record(uint64(time.Since(t.base) - t0))
	if !ok {
		t.full++
	}
	return ok
}

// BenchmarkSyncEnqueue measures the enqueue of one delta record from a
// dataplane worker into the sync path: syncpath.Sink.Enqueue as the
// connection table's record emission calls it (conntrack Track creating a
// connection emits its New record), timed around each call with the
// monotonic clock (time.Since on a fixed base; one clock read, about 30 ns
// here, ring's BenchmarkEnqueueLatency reports it as clock-ns, is included,
// not subtracted). The worker (the generator, CPU 0) creates connections
// at 1M/s while the active's session drains the sink on CPU 1
// and replicates to a backup on gw2 over the AF_XDP transport, as in
// BenchmarkReplicate. full/op counts calls that found the ring full.
// Reports p50-ns, p99-ns, p999-ns, max-ns. One iteration is one record;
// b.N below 1M runs 1M.
func BenchmarkSyncEnqueue(b *testing.B) {
	l := labtest.New(b, lab.Config{Queues: 1})
	n := max(b.N, 1_000_000)
	xs := openSyncTransports(b, l, "xsk")
	ts := &timedSink{base: time.Now()}
	sp := startSyncPair(b, xs, 1500, 1<<21, func(s *syncpath.Sink) conntrack.RecordSink { ts.s = s; return ts })
	sp.generate(b, xs, 0, n, 1e6)
	sp.stop()
	h := &ts.h
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(h.Quantile(0.5)), "p50-ns")
	b.ReportMetric(float64(h.Quantile(0.99)), "p99-ns")
	b.ReportMetric(float64(h.Quantile(0.999)), "p999-ns")
	b.ReportMetric(float64(h.Max()), "max-ns")
	b.ReportMetric(float64(ts.full)/float64(h.Count()), "full/op")
}
