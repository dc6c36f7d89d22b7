// Package apitest provides a fake api.Backend with plausible figures and a
// small real connection table, for the tests of control/api, tandemctl and
// control/metrics. It owns no daemon state; nothing outside tests uses it.
package apitest

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/dataplane"
	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// Started is the fake member's start time.
var Started = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)

// Fake is an api.Backend over fixed figures that tests may change (under
// Mu) and a real conntrack.Table holding the connections Conns lists.
// It is safe for concurrent use.
type Fake struct {
	Mu        sync.Mutex
	St        api.Status
	Mem       []api.Member
	Peers     []api.PeerSync
	Socks     []api.Socket
	Work      api.Workers
	FailErr   error // returned by Failover when set
	DelayErr  error // returned by SetDelayedNotification when set
	Failovers int   // planned failovers done

	Table *conntrack.Table
	Clock *clock.Manual
}

// Conns are the connections New puts in the table: the inside client's,
// source-translated, and one IPv6 flow.
var Conns = []struct {
	Key   conntrack.Key
	State conntrack.State
	SNAT  bool
}{
	{Key: key(conntrack.ProtoTCP, "10.77.1.10", "10.77.3.10", 40000, 80), State: conntrack.StateEstablished, SNAT: true},
	{Key: key(conntrack.ProtoTCP, "10.77.1.10", "10.77.3.10", 40001, 443), State: conntrack.StateSynSent, SNAT: true},
	{Key: key(conntrack.ProtoUDP, "10.77.1.11", "10.77.3.53", 5353, 53), State: conntrack.StateUDPReplied, SNAT: true},
	{Key: key(conntrack.ProtoTCP, "fd77:1::10", "fd77:3::10", 50000, 22), State: conntrack.StateEstablished},
}

// SNATAddr is the address the fake's SNAT pool translates to.
var SNATAddr = netip.MustParseAddr("10.77.2.100")

func key(proto uint8, src, dst string, sport, dport uint16) conntrack.Key {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	fam := uint8(conntrack.FamilyIPv6)
	if s.Is4() {
		fam = conntrack.FamilyIPv4
	}
	return conntrack.MakeKey(fam, proto, s.As16(), d.As16(), sport, dport)
}

// New returns a Fake of member 1 (gw1, active) with peer 2 (gw2, backup),
// non-zero sync counters, two queues and the Conns in its table.
func New() (*Fake, error) {
	clk := clock.NewManual(int64(time.Hour))
	t, err := conntrack.New(conntrack.Config{
		MaxEntries: 1024, Self: 1, Clock: clk, Seed: 1,
		SNAT: []conntrack.SNATPool{{Addrs: []netip.Addr{SNATAddr}, PortMin: 20000, PortMax: 59999}},
	})
	if err != nil {
		return nil, err
	}
	for _, c := range Conns {
		nat := conntrack.NATRequest{}
		if c.SNAT {
			nat = conntrack.NATRequest{Kind: conntrack.NATSource}
		}
		if _, err := t.InsertNAT(c.Key, c.State, nat); err != nil {
			return nil, fmt.Errorf("fake table: %w", err)
		}
	}
	clk.Advance(90 * time.Second)
	f := &Fake{Table: t, Clock: clk}
	f.St = api.Status{
		Member: 1, Name: "gw1", Cluster: 1, Role: "active", Priority: 100, Started: Started,
		Interfaces: []api.Interface{
			{Name: "in0", Role: "inside", Queues: 2, Attach: "native"},
			{Name: "out0", Role: "outside", Queues: 2, Attach: "native"},
			{Name: "sync0", Role: "sync", Queues: 1},
		},
		Cores:    []api.Core{{CPU: 0, Role: "control_plane"}, {CPU: 1, Role: "sync_worker"}, {CPU: 1, Role: "worker"}},
		ConnsMax: t.Cap(), Peers: 1,
		Params: api.Params{MaxBandwidth: 800e6, DelayedNotification: 3 * time.Second},
	}
	f.Mem = []api.Member{
		{ID: 1, Name: "gw1", Self: true, Address: "10.77.9.1", Role: "active", Priority: 100, Alive: true, Synced: true, LastHeard: 0},
		{ID: 2, Name: "gw2", Address: "10.77.9.2", Role: "backup", Priority: 90, Alive: true, Synced: true, LastHeard: 40 * time.Millisecond, Epoch: 7, Conns: 4},
	}
	f.Peers = []api.PeerSync{{
		Peer: 2, Name: "gw2",
		Counters: syncpath.Counters{
			FramesSent: 1200, FramesReceived: 900, RecordsSent: 48000, RecordsReceived: 10,
			BytesSent: 1_800_000, BytesReceived: 90_000, HeartbeatsSent: 600, HeartbeatsReceived: 598,
			AcksSent: 5, AcksReceived: 1150, NacksSent: 1, NacksReceived: 3, Retransmits: 4, TimeoutRetransmits: 1,
			Coalesced: 700, Suppressed: 12000, WindowStalls: 2, BandwidthStalls: 9,
			Rejected: ccp.Counters{Opened: 900, Auth: 2, Replay: 1},
			Applied:  10, QueueDepth: 17, InFlight: 3,
			FullSyncsStarted: 1, FullSyncsSent: 1, FullSyncNanos: uint64(664 * time.Millisecond),
			PeerAlive: true, RTT: int64(180 * time.Microsecond),
		},
		Lag:            api.Lag{Count: 1150, Sum: 1150 * 500 * time.Microsecond, P50: 300 * time.Microsecond, P99: 2 * time.Millisecond, Max: 9 * time.Millisecond},
		BandwidthLimit: 800e6,
		Delay:          api.DelayStatus{Delay: 3 * time.Second, Base: 3 * time.Second},
	}}
	f.Socks = []api.Socket{
		{Interface: "in0", Queue: 0, Stats: xsk.Statistics{RxRingFull: 3, FillRingEmptyDescs: 12}},
		{Interface: "in0", Queue: 1},
		{Interface: "out0", Queue: 0, Stats: xsk.Statistics{RxDropped: 1}},
		{Interface: "out0", Queue: 1},
	}
	f.Work = api.Workers{Inside: "in0", Outside: "out0", Steering: map[string]uint64{"ccp": 1900, "pass_non_ip": 40}}
	for q := range 2 {
		var c dataplane.Counters
		c[dataplane.CountRxInside] = uint64(1000 * (q + 1))
		c[dataplane.CountRxOutside] = uint64(900 * (q + 1))
		c[dataplane.CountRxBytesInside] = uint64(1_500_000 * (q + 1))
		c[dataplane.CountRxBytesOutside] = uint64(1_200_000 * (q + 1))
		c[dataplane.CountTxInside] = uint64(900 * (q + 1))
		c[dataplane.CountTxOutside] = uint64(1000 * (q + 1))
		c[dataplane.CountForwarded] = uint64(1900 * (q + 1))
		c[dataplane.CountDropPolicy] = uint64(5 * (q + 1))
		c[dataplane.CountDropTxFull] = 1
		f.Work.Workers = append(f.Work.Workers, api.Worker{Queue: q, CPU: 1, Counters: WorkerCounters(&c)})
	}
	return f, nil
}

// WorkerCounters names a worker's counters as the API does.
func WorkerCounters(c *dataplane.Counters) map[string]uint64 {
	m := make(map[string]uint64, len(c))
	for i, v := range c {
		m[dataplane.CounterName(i)] = v
	}
	return m
}

// Status implements api.Backend.
func (f *Fake) Status() api.Status {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	st := f.St
	st.Conns = f.Table.Len()
	return st
}

// Members implements api.Backend.
func (f *Fake) Members() []api.Member {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]api.Member(nil), f.Mem...)
}

// SyncStats implements api.Backend.
func (f *Fake) SyncStats() []api.PeerSync {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	out := append([]api.PeerSync(nil), f.Peers...)
	for i := range out {
		out[i].BandwidthLimit = f.St.Params.MaxBandwidth
	}
	return out
}

// Send adds to the first peer's sent counters, as traffic would.
func (f *Fake) Send(frames, records, bytes uint64) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	c := &f.Peers[0].Counters
	c.FramesSent += frames
	c.RecordsSent += records
	c.BytesSent += bytes
}

// Sockets implements api.Backend.
func (f *Fake) Sockets() ([]api.Socket, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]api.Socket(nil), f.Socks...), nil
}

// Workers implements api.Backend.
func (f *Fake) Workers() (api.Workers, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	w := f.Work
	w.Workers = nil
	for _, wk := range f.Work.Workers {
		c := make(map[string]uint64, len(wk.Counters))
		for k, v := range wk.Counters {
			c[k] = v
		}
		wk.Counters = c
		w.Workers = append(w.Workers, wk)
	}
	return w, nil
}

// Forward adds packets to every worker's counters, as traffic would.
func (f *Fake) Forward(packets, bytes uint64) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for _, w := range f.Work.Workers {
		w.Counters["rx_inside"] += packets
		w.Counters["rx_bytes_inside"] += bytes
		w.Counters["tx_outside"] += packets
		w.Counters["tx_bytes_outside"] += bytes
		w.Counters["forwarded"] += packets
	}
}

// RangeConns implements api.Backend.
func (f *Fake) RangeConns(cursor uint32, n int, fn func(conntrack.Record) bool) (uint32, bool) {
	return f.Table.RangeFrom(cursor, n, fn)
}

// ConnClock implements api.Backend.
func (f *Fake) ConnClock() int64 { return f.Clock.Now() }

// SetMaxBandwidth implements api.Backend.
func (f *Fake) SetMaxBandwidth(bps uint64) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.St.Params.MaxBandwidth = bps
	return nil
}

// SetDelayedNotification implements api.Backend.
func (f *Fake) SetDelayedNotification(d time.Duration) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.DelayErr != nil {
		return f.DelayErr
	}
	f.St.Params.DelayedNotification = d
	for i := range f.Peers {
		f.Peers[i].Delay.Delay, f.Peers[i].Delay.Base = d, d
	}
	return nil
}

// ErrNotActive is what the fake's Failover returns when its role is not
// active.
var ErrNotActive = fmt.Errorf("this member is backup, not active: %w", api.ErrConflict)

// Failover implements api.Backend: an active fake becomes backup.
func (f *Fake) Failover() (api.FailoverResult, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.FailErr != nil {
		return api.FailoverResult{}, f.FailErr
	}
	if f.St.Role != "active" {
		return api.FailoverResult{}, ErrNotActive
	}
	f.Failovers++
	f.St.Role = "backup"
	f.Mem[0].Role, f.Mem[1].Role = "backup", "active"
	return api.FailoverResult{Before: "active", After: "backup", Message: "gw2 took over after the sync queue drained"}, nil
}

var _ api.Backend = (*Fake)(nil)
