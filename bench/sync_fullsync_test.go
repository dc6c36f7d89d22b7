package bench

import (
	"fmt"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/dataplane"
	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
	"github.com/tandem-gw/tandem/tools/xdpgen"
)

// gatedSink passes records to the sync sink only while open: the table is
// filled with the gate shut, so that its million connections reach the
// backup through the full sync alone, not as deltas as well.
type gatedSink struct {
	open atomic.Bool
	s    *syncpath.Sink
}

func (g *gatedSink) Enqueue(r conntrack.Record) bool {
	if !g.open.Load() {
		return true
	}
	return g.s.Enqueue(r)
}

// BenchmarkFullSync1M measures a full sync of 1M connections from gw1 (the
// active) to gw2 (a backup that starts empty) over the lab's sync link,
// AF_XDP transport, at MTU 9000 and 1500, while gw1's forwarding engine
// (dataplane.Engine, conntrack and SNAT, on CPU 1 like the active's sync
// worker) forwards client → server traffic from tools/xdpgen (on CPU 0,
// 1024 flows of 64-byte UDP through the lab's LAN bridge, offered at 200K
// frames/s, SYNC_FWD_PPS to change it).
//
// The active's table (the engine's) is filled with 1M UDP connections by
// conntrack Track before the sessions exist. Then both sessions start: the
// backup asks for a full sync at once (reason boot), the active streams
// its table in FULLSYNC_CHUNK frames while the engine forwards, then
// FULLSYNC_DONE and its changelog. ms is the time from the sessions'
// start until the backup's table is a consistent copy: the backup has
// completed the snapshot and the two tables' digests are equal (the
// digest is checked when the snapshot completes; if it differs, the
// benchmark polls it, the digest's own time then included). recv-ms is
// the backup's own figure (request to DONE). fwd-pps-during is the
// engine's forwarding rate over that interval, fwd-pps-before its rate
// over 500 ms of the same traffic just before, and fwd-ratio the first
// over the second. One iteration is one full sync (of 1M entries
// whatever b.N).
//
// Placement: the sender on CPU 0 with the backup's sync worker; the
// engine's worker on CPU 1 with the active's sync worker (one member).
// SYNC_NO_FWD=1 leaves the engine and the traffic out (the sync path
// alone); SYNC_DEBUG=1 logs the sessions' and transports' counters. The
// engine collapses on a shared core (docs/performance.md, open problems):
// the forwarding figures then say so rather than what a full sync costs.
func BenchmarkFullSync1M(b *testing.B) {
	for _, mtu := range []int{9000, 1500} {
		b.Run(fmt.Sprintf("mtu=%d", mtu), func(b *testing.B) { benchFullSync(b, mtu, 1_000_000) })
	}
}

func benchFullSync(b *testing.B, mtu, conns int) {
	reserveProcs(b, 4) // the two sync workers, the engine's worker, the sender
	l := labtest.New(b, lab.Config{Queues: 1, SyncMTU: mtu})
	xs := openSyncTransports(b, l, "xsk")
	const capacity = 1 << 21
	sp := &syncPair{b: b, clk: clock.NewCoarse(time.Millisecond), errs: make(chan error, 2)}
	var err error
	if sp.sink, err = syncpath.NewSink(1 << 18); err != nil {
		b.Fatal(err)
	}
	gate := &gatedSink{s: sp.sink}
	sp.active, err = conntrack.New(conntrack.Config{
		MaxEntries: capacity, Self: 1, Clock: sp.clk, Timeouts: benchTimeouts(), Records: gate,
		SNAT: []conntrack.SNATPool{{Addrs: []netip.Addr{lab.SNATAddr}, PortMin: 1024, PortMax: 65535}},
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := range conns {
		if res := sp.active.Track(benchKey(i), conntrack.Segment{}, conntrack.NATRequest{}); res.Verdict != conntrack.Accept {
			b.Fatalf("creating connection %d: %v", i, res.Verdict)
		}
	}
	gate.open.Store(true)
	sp.newBackupTable(b, capacity)

	var fwd *syncForwarding
	before := 0.0
	if os.Getenv("SYNC_NO_FWD") == "" { // for experiments on the sync path alone
		fwd = startSyncForwarding(b, l, sp.active)
		defer fwd.stop()
		before = fwd.rate(500 * time.Millisecond)
	}

	stopProfile := profileSyncWindow(b)
	cpu0 := readCPUTimes()
	start := time.Now()
	fwd0 := fwd.forwarded()
	sp.startSessions(b, xs, mtu, capacity)
	for deadline := time.Now().Add(5 * time.Second); sp.tids[0].Load() == 0 || sp.tids[1].Load() == 0; time.Sleep(10 * time.Microsecond) {
		if time.Now().After(deadline) { // a session's thread failed to start (pin): its error is in sp.errs
			b.Fatalf("the sync sessions' threads did not start in 5s")
		}
	}
	sched0 := [2]schedStat{readSchedStat(sp.tids[0].Load()), readSchedStat(sp.tids[1].Load())}
	for sp.sb.Counters().FullSyncsReceived == 0 {
		if time.Since(start) > 30*time.Second {
			b.Fatalf("no full sync in 30s: active %+v; backup %+v", sp.sa.Counters(), sp.sb.Counters())
		}
		time.Sleep(100 * time.Microsecond)
	}
	doneAt := time.Since(start)
	cpuDuring := readCPUTimes()
	sched1 := [2]schedStat{readSchedStat(sp.tids[0].Load()), readSchedStat(sp.tids[1].Load())}
	fwdDuring := float64(fwd.forwarded()-fwd0) / doneAt.Seconds()
	if fwd != nil && !fwd.sending() {
		b.Errorf("the sender stopped before the full sync ended: fwd-pps-during is not measured over all of it")
	}
	consistent := doneAt
	for {
		da, na := sp.active.Digest()
		db, nb := sp.backup.Digest()
		if da == db && na == nb {
			break
		}
		consistent = time.Since(start)
		if consistent > 10*time.Second {
			b.Fatalf("the backup holds %d connections (digest %x), the active %d (digest %x)", nb, db, na, da)
		}
		time.Sleep(time.Millisecond)
	}
	stopProfile()
	c := sp.sb.Counters()
	if os.Getenv("SYNC_DEBUG") != "" {
		b.Logf("CPU time from the sessions' start to the backup's FULLSYNC_DONE: %s", cpuDuring.since(cpu0))
		for i, side := range []string{"active", "backup"} {
			b.Logf("%s's sync thread: ran %.1f ms, waited runnable %.1f ms, %d slices", side,
				float64(sched1[i].run-sched0[i].run)/1e6, float64(sched1[i].wait-sched0[i].wait)/1e6, sched1[i].slices-sched0[i].slices)
		}
		st, _ := xs.t2.(*syncpath.XSKTransport).SocketStats()
		b.Logf("active %+v\nbackup %+v\nbackup socket %+v\ntransports %+v / %+v", sp.sa.Counters(), c, st, xs.x1.Stats(), xs.t2.(*syncpath.XSKTransport).Stats())
	}
	sp.stop()
	if fwd != nil && (fwdDuring < 0.1*before || before < 1e5) {
		st, _ := fwd.e.SocketStats()
		b.Logf("the engine forwarded little: counters %v; sockets %+v", fwd.counters(), st)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(consistent)/1e6, "ms")
	b.ReportMetric(float64(c.FullSyncRecvNanos)/1e6, "recv-ms")
	if fwd != nil {
		b.ReportMetric(fwdDuring, "fwd-pps-during")
		b.ReportMetric(before, "fwd-pps-before")
		b.ReportMetric(fwdDuring/before, "fwd-ratio")
		b.ReportMetric(fwdOffered(), "fwd-pps-offered")
	}
	b.Logf("mtu %d: %d connections, consistent backup after %.1f ms (snapshot done at %.1f ms, backup's figure %.1f ms); forwarding %.0f pps during, %.0f before; cpus: sender %d, engine worker and active sync %d, backup sync %d",
		mtu, conns, float64(consistent)/1e6, float64(doneAt)/1e6, float64(c.FullSyncRecvNanos)/1e6, fwdDuring, before, senderCPU, syncCPU, backupCPU())
}

// schedStat is a thread's /proc schedstat: time on a CPU and time
// runnable on a run queue, in ns, and the slices it ran.
type schedStat struct{ run, wait, slices uint64 }

func readSchedStat(tid int32) schedStat {
	data, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
	if err != nil {
		return schedStat{}
	}
	var st schedStat
	fmt.Sscan(string(data), &st.run, &st.wait, &st.slices)
	return st
}

// cpuTimes is each CPU's line of /proc/stat: user, nice, system, idle,
// iowait, irq, softirq, in clock ticks.
type cpuTimes [][7]uint64

func readCPUTimes() cpuTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var ct cpuTimes
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var v [7]uint64
		for i := range v {
			v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
		}
		ct = append(ct, v)
	}
	return ct
}

// since formats the time each CPU spent in each state since before, in
// milliseconds (at 100 ticks a second).
func (ct cpuTimes) since(before cpuTimes) string {
	var sb strings.Builder
	names := [7]string{"user", "nice", "sys", "idle", "iowait", "irq", "softirq"}
	for c := range min(len(ct), len(before)) {
		fmt.Fprintf(&sb, "cpu%d:", c)
		for i, n := range names {
			if d := ct[c][i] - before[c][i]; d > 0 {
				fmt.Fprintf(&sb, " %s %d", n, d*10)
			}
		}
		sb.WriteString("; ")
	}
	return sb.String()
}

// profileSyncWindow writes a CPU profile of the full sync alone (from the
// sessions' start to a consistent backup) to the file SYNC_CPUPROFILE
// names, each run's own with the run's number appended; the sessions'
// samples carry a "side" label (active or backup). Without the variable it
// does nothing.
func profileSyncWindow(b *testing.B) (stop func()) {
	name := os.Getenv("SYNC_CPUPROFILE")
	if name == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", name, profileRuns.Add(1)))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatalf("SYNC_CPUPROFILE: %v (not with -cpuprofile)", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

var profileRuns atomic.Int32

// syncForwarding is gw1's engine forwarding xdpgen's traffic from the
// client to the server in the full lab while a benchmark measures
// something else.
type syncForwarding struct {
	b        *testing.B
	e        *dataplane.Engine
	done     chan error
	active   atomic.Bool
	stopSend func()
}

// fwdOffered is the rate the sender offers the engine: 200K frames/s, or
// SYNC_FWD_PPS. Flat out, the sender alone would take CPU 0, where the
// backup's sync worker runs.
func fwdOffered() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("SYNC_FWD_PPS"), 64); err == nil && v > 0 {
		return v
	}
	return 200e3
}

// startSyncForwarding starts the engine on gw1 with table, and a sender in
// the client namespace that runs until stop (at most a minute).
func startSyncForwarding(b *testing.B, l *lab.Lab, table *conntrack.Table) *syncForwarding {
	f := &syncForwarding{b: b, done: make(chan error, 1)}
	macIn, err := lab.HardwareAddr(l.GW1, lab.IfInside)
	if err != nil {
		b.Fatal(err)
	}
	macClient, _ := lab.HardwareAddr(l.Client, lab.IfClient)
	macServer, _ := lab.HardwareAddr(l.Server, lab.IfClient)
	// The server drops everything at tc ingress (no ICMP back), so gw1
	// gets its MAC address statically; the sender's live frames need GRO
	// on the bridge port they arrive at.
	srv := attachSink(b, l.Server, lab.IfClient)
	b.Cleanup(func() { srv.Close() })
	if out, err := lab.Command(l.GW1, "ip", "neigh", "replace", lab.ServerAddr.String(), "lladdr", macServer.String(),
		"nud", "permanent", "dev", lab.IfOutside).CombinedOutput(); err != nil {
		b.Fatalf("static neighbour for the server: %v\n%s", err, out)
	}
	for _, p := range []struct{ ns, ifname string }{{l.LAN, "client"}, {l.WAN, "gw1"}} {
		if err := lab.GROOn(p.ns, p.ifname); err != nil {
			b.Fatal(err)
		}
	}
	err = lab.Do(l.GW1, func() (err error) {
		f.e, err = dataplane.New(dataplane.Config{
			Inside:   dataplane.Interface{Name: lab.IfInside, Addr4: lab.GW1Inside},
			Outside:  dataplane.Interface{Name: lab.IfOutside, Addr4: lab.GW1Outside},
			Queues:   1,
			Cores:    []int{syncCPU},
			RingSize: 4096, FramesPerWorker: 16384, Nice: workerNice(),
			Local:  []netip.Addr{lab.GW1Inside, lab.GW1Outside},
			Policy: dataplane.Policy{AllowFromInside: true, AllowRelated: true, SNAT: 0, SNAT6: -1},
			Table:  table,
		})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.e.Start(); err != nil {
		b.Fatal(err)
	}
	frame, err := xdpgen.UDP4Frame(nil, xdpgen.UDP4{DstMAC: macIn, SrcMAC: macClient, Src: lab.ClientAddr, Dst: lab.ServerAddr, SrcPort: 1, DstPort: 7000}, frameSize, nil)
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	f.active.Store(true)
	go func() {
		f.done <- lab.Do(l.Client, func() error {
			defer f.active.Store(false)
			if err := pin(senderCPU); err != nil {
				return err
			}
			s, err := xdpgen.NewSender(lab.IfClient, xdpgen.SenderConfig{Frame: frame, Flows: benchFlows})
			if err != nil {
				return err
			}
			defer s.Close()
			start, sent := time.Now(), 0.0
			for time.Since(start) < time.Minute {
				select {
				case <-stop:
					return nil
				default:
				}
				if sent > time.Since(start).Seconds()*fwdOffered() {
					time.Sleep(time.Millisecond)
					continue
				}
				if _, err := s.Send(2048); err != nil {
					return err
				}
				sent += 2048
			}
			return nil
		})
	}()
	f.stopSend = func() { close(stop) }
	// Warm up: every flow has its entry and the traffic flows. The bar is
	// low on purpose: at the time of writing the engine stalls after a few
	// thousand frames in BenchmarkForward too (docs/performance.md, Sync),
	// and the full sync is measured all the same.
	for deadline := time.Now().Add(5 * time.Second); f.forwarded() < benchFlows; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			all := f.counters()
			st, _ := f.e.SocketStats()
			f.stop()
			b.Fatalf("the engine forwarded %d frames in 5s of traffic; counters %v; sockets %+v", f.forwarded(), all, st)
		}
	}
	return f
}

// counters lists the engine's counters that are not zero.
func (f *syncForwarding) counters() []string {
	var all []string
	for i, v := range f.e.Counters() {
		if v != 0 {
			all = append(all, fmt.Sprintf("%s=%d", dataplane.CounterName(i), v))
		}
	}
	return all
}

func (f *syncForwarding) forwarded() uint64 {
	if f == nil {
		return 0
	}
	return f.e.Counters()[dataplane.CountForwarded]
}

// sending reports whether the sender is still sending.
func (f *syncForwarding) sending() bool { return f.active.Load() }

// rate measures the forwarding rate over d.
func (f *syncForwarding) rate(d time.Duration) float64 {
	n0, t0 := f.forwarded(), time.Now()
	time.Sleep(d)
	return float64(f.forwarded()-n0) / time.Since(t0).Seconds()
}

func (f *syncForwarding) stop() {
	if f.stopSend == nil {
		return
	}
	f.stopSend()
	f.stopSend = nil
	if err := <-f.done; err != nil {
		f.b.Errorf("sender: %v", err)
	}
	if err := f.e.Stop(); err != nil {
		f.b.Error(err)
	}
}
