package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/control/metrics"
	"github.com/tandem-gw/tandem/dataplane"
	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/internal/histogram"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// operator is the operator side of a running member: its API and metrics
// servers and the runtime parameters in effect. member.go owns the member;
// this state hangs off it in operators, so that the operator code lives in
// its own files.
type operator struct {
	started    time.Time
	api        *api.Server
	metrics    *metrics.Server
	maxBits    atomic.Uint64 // sync.max_bandwidth in effect, bits per second
	workerCPUs []int         // by queue
	lagMu      sync.Mutex    // guards lag
	lag        histogram.Histogram
}

// operators maps each running member to its operator state.
var operators struct {
	mu sync.Mutex
	m  map[*member]*operator
}

func (m *member) op() *operator {
	operators.mu.Lock()
	defer operators.mu.Unlock()
	if o := operators.m[m]; o != nil {
		return o
	}
	// A member whose operator was not started (or was stopped) still
	// answers, with its config's parameters.
	o := &operator{started: time.Now()}
	o.maxBits.Store(m.cfg.Sync.MaxBandwidth.BitsPerSecond)
	return o
}

// The Backend of the operator API (control/api) is the member itself.
var _ api.Backend = (*member)(nil)

// Status implements api.Backend.
func (m *member) Status() api.Status {
	c, o := m.cfg, m.op()
	st := api.Status{
		Member: c.Member.ID, Name: c.Member.Name, Cluster: c.Sync.ClusterID, Role: m.Role().String(),
		Priority: c.Member.Priority, Started: o.started, Peers: len(c.Peers),
		Conns: m.gw.table.Len(), ConnsMax: m.gw.table.Cap(),
		Params: api.Params{MaxBandwidth: o.maxBits.Load(), DelayedNotification: m.delayInEffect()},
	}
	modes := m.gw.engine.AttachModes()
	for _, name := range c.InterfaceNames() {
		ifc := c.Interfaces[name]
		i := api.Interface{Name: name, Role: string(ifc.Role), Queues: ifc.Queues}
		if mode, ok := modes[name]; ok {
			i.Attach = fmt.Sprint(mode)
		}
		st.Interfaces = append(st.Interfaces, i)
	}
	st.Cores = append(st.Cores, api.Core{CPU: c.Cores.ControlPlane, Role: "control_plane"})
	if c.Cores.SyncWorker != config.NoCore {
		st.Cores = append(st.Cores, api.Core{CPU: c.Cores.SyncWorker, Role: "sync_worker"})
	}
	for _, w := range c.Cores.Workers {
		st.Cores = append(st.Cores, api.Core{CPU: w.Core, Role: "worker"})
	}
	return st
}

// onSyncWorker runs fn on the sync worker's goroutine, which owns the
// session's unsynchronised state, and reports whether it ran within a
// second.
func (m *member) onSyncWorker(fn func()) bool {
	done := make(chan struct{})
	timeout := time.NewTimer(time.Second)
	defer timeout.Stop()
	select {
	case m.peer.requests <- func() { fn(); close(done) }:
	case <-m.done:
		return false
	case <-timeout.C:
		return false
	}
	select {
	case <-done:
		return true
	case <-m.done:
		return false
	case <-timeout.C:
		return false
	}
}

// Members implements api.Backend.
func (m *member) Members() []api.Member {
	c := m.cfg
	self := api.Member{
		ID: c.Member.ID, Name: c.Member.Name, Self: true, Role: m.Role().String(), Priority: c.Member.Priority,
		Alive: true, Conns: m.gw.table.Len(),
	}
	if c.Sync.Address.IsValid() {
		self.Address = c.Sync.Address.String()
	}
	if m.peer == nil {
		return []api.Member{self}
	}
	p := m.peer
	synced := make(chan bool, 1)
	if m.onSyncWorker(func() { synced <- p.session.Synced() }) {
		self.Synced = <-synced
	}
	ps := p.session.PeerState()
	peer := api.Member{
		ID: int(p.id), Name: p.name, Role: ps.Role.String(), Priority: int(ps.Priority),
		Alive: p.session.Counters().PeerAlive, LastHeard: -1, Epoch: ps.Epoch,
		Synced: ps.Status&ccp.StatusSynced != 0, Conns: int(ps.Conns),
	}
	if ps.LastHeard > 0 {
		peer.LastHeard = time.Duration(max(p.clk.Now()-ps.LastHeard, 0))
	}
	if len(c.Peers) > 0 {
		peer.Address = c.Peers[0].Address.String()
	}
	return []api.Member{self, peer}
}

// SyncStats implements api.Backend.
func (m *member) SyncStats() []api.PeerSync {
	if m.peer == nil {
		return nil
	}
	p, o := m.peer, m.op()
	ps := api.PeerSync{Peer: int(p.id), Name: p.name, Counters: p.session.Counters(), BandwidthLimit: o.maxBits.Load(),
		Delay: p.remedy.status(p.session)}
	o.lagMu.Lock()
	p.session.LagSnapshot(&o.lag)
	h := &o.lag
	ps.Lag = api.Lag{
		Count: h.Count(), Sum: time.Duration(h.Mean() * float64(h.Count())),
		P50: time.Duration(h.Quantile(0.5)), P99: time.Duration(h.Quantile(0.99)), Max: time.Duration(h.Max()),
	}
	o.lagMu.Unlock()
	return []api.PeerSync{ps}
}

// Sockets implements api.Backend.
func (m *member) Sockets() ([]api.Socket, error) {
	stats, err := m.gw.engine.SocketStats()
	if err != nil {
		return nil, fmt.Errorf("reading AF_XDP statistics: %w", err)
	}
	out := make([]api.Socket, 0, len(stats))
	for k, s := range stats {
		name, q, _ := strings.Cut(k, "/")
		n, _ := strconv.Atoi(q)
		out = append(out, api.Socket{Interface: name, Queue: n, Stats: s})
	}
	slices.SortFunc(out, func(a, b api.Socket) int {
		if c := strings.Compare(a.Interface, b.Interface); c != 0 {
			return c
		}
		return a.Queue - b.Queue
	})
	return out, nil
}

// Workers implements api.Backend.
func (m *member) Workers() (api.Workers, error) {
	o := m.op()
	e := m.gw.engine
	inside, _, _ := m.cfg.InterfaceByRole(config.RoleInside)
	outside, _, _ := m.cfg.InterfaceByRole(config.RoleOutside)
	w := api.Workers{Inside: inside, Outside: outside, Steering: map[string]uint64{}}
	for q, c := range e.WorkerCounters() {
		wk := api.Worker{Queue: q, CPU: -1, Counters: make(map[string]uint64, len(c))}
		if q < len(o.workerCPUs) {
			wk.CPU = o.workerCPUs[q]
		}
		for i, v := range c {
			wk.Counters[dataplane.CounterName(i)] = v
		}
		w.Workers = append(w.Workers, wk)
	}
	if s := e.Steering(); s != nil {
		cs, err := s.ReadCounters()
		if err != nil {
			return w, fmt.Errorf("reading the steering program's counters: %w", err)
		}
		for i, v := range cs {
			if v != 0 {
				w.Steering[xdp.CounterName(i)] = v
			}
		}
	}
	return w, nil
}

// RangeConns implements api.Backend.
func (m *member) RangeConns(cursor uint32, n int, fn func(conntrack.Record) bool) (uint32, bool) {
	return m.gw.table.RangeFrom(cursor, n, fn)
}

// ConnClock implements api.Backend.
func (m *member) ConnClock() int64 { return m.gw.table.Now() }

// SetMaxBandwidth implements api.Backend: the session's token bucket
// changes at its next poll.
func (m *member) SetMaxBandwidth(bps uint64) error {
	if m.peer == nil {
		return fmt.Errorf("no peer: there is no sync traffic to limit: %w", api.ErrConflict)
	}
	m.peer.session.SetBandwidth(int64(bps / 8))
	m.op().maxBits.Store(bps)
	return nil
}

// SetDelayedNotification implements api.Backend: the session applies the
// new delay at its next poll (0 switches delayed notifications off and
// sends every held record). With sync.remediation on, the new delay is
// also its new base, set on the sync worker that runs the remediation.
func (m *member) SetDelayedNotification(d time.Duration) error {
	if m.peer == nil {
		return fmt.Errorf("no peer: there is nothing to delay: %w", api.ErrConflict)
	}
	p := m.peer
	if p.remedy == nil {
		p.session.SetDelay(d)
		return nil
	}
	if !m.onSyncWorker(func() { p.remedy.rebase(p.session, d) }) {
		return fmt.Errorf("the sync worker did not take the new delay within a second: %w", api.ErrConflict)
	}
	return nil
}

// delayInEffect is the delayed-notification delay the session uses now.
func (m *member) delayInEffect() time.Duration {
	if m.peer == nil {
		return m.cfg.Sync.DelayedNotification.Duration
	}
	return m.peer.session.Delay()
}

// Failover implements api.Backend: a planned failover (member.failover),
// which waits for the sync queue to drain.
func (m *member) Failover() (api.FailoverResult, error) {
	before := m.Role()
	if m.peer == nil {
		return api.FailoverResult{}, fmt.Errorf("no peer configured: %w", api.ErrConflict)
	}
	if before != ccp.RoleActive {
		return api.FailoverResult{}, fmt.Errorf("this member is %s, not active: %w", before, api.ErrConflict)
	}
	start := time.Now()
	if err := m.failover(); err != nil {
		return api.FailoverResult{}, fmt.Errorf("%w: %w", api.ErrConflict, err)
	}
	after := m.Role()
	return api.FailoverResult{
		Before: before.String(), After: after.String(),
		Message: fmt.Sprintf("%s handed over to %s in %v after the sync queue drained", m.cfg.Member.Name, m.peer.name, time.Since(start).Round(time.Millisecond)),
	}, nil
}
