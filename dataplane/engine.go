package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/nexthop"
	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/dataplane/xsk"
)

// Interface names one of the gateway's data interfaces and its addresses
// there (the sources of the ICMP errors it sends).
type Interface struct {
	Name         string
	Addr4, Addr6 netip.Addr
}

// Config configures an Engine. Zero fields take the defaults said beside
// them.
type Config struct {
	Inside, Outside Interface
	Queues          int   // queues (and workers) per interface; default 1
	Cores           []int // core of each queue's worker; missing or negative: not pinned

	FramesPerWorker uint32 // UMEM frames per worker; default 8192
	FrameSize       uint32 // default 4096
	RingSize        int    // each ring's size; default 2048
	Bind            xsk.BindMode
	Attach          xdp.AttachMode
	NeedWakeup      bool
	BusyPoll        xsk.BusyPoll
	// TxBudget is the copy-mode tx budget, descriptors per kick
	// (XDP_MAX_TX_SKB_BUDGET); default 256, which sent 2.2x the kernel's
	// default of 32 in BenchmarkTxOnly.
	TxBudget     int
	IdleSpins    int  // empty polls before a worker sleeps in poll(); default 20000
	SpinWhenIdle bool // never sleep: for cores of the engine's own
	// Nice is the nice value of the workers' threads (-20..19); 0 leaves
	// what they inherit. A worker busy polls: on a core shared with other
	// processes, nice 0 gives it no more than each of them.
	Nice int

	// Local lists the gateway's own addresses (and VIPs it holds): packets
	// to them go to its kernel. Not the SNAT addresses.
	Local []netip.Addr

	Policy Policy
	Table  *conntrack.Table // required
}

// Engine is a running forwarding engine.
type Engine struct {
	cfg     Config
	steer   *xdp.Steering
	mirror  *nexthop.Mirror
	raw     *rawSender
	workers []*worker
	umems   []*xsk.UMEM
	socks   []*xsk.Socket
	modes   map[string]xdp.AttachMode
	wg      sync.WaitGroup
	started bool
}

// New builds the engine in the calling thread's network namespace: it
// attaches the steering program, opens the sockets and starts the
// neighbour mirror. It does not start the workers (Start does).
func New(cfg Config) (e *Engine, err error) {
	if cfg.Table == nil {
		return nil, errors.New("engine config: no connection table")
	}
	if cfg.Nice < -20 || cfg.Nice > 19 {
		return nil, fmt.Errorf("engine config: nice %d: must be -20 to 19", cfg.Nice)
	}
	if cfg.Queues <= 0 {
		cfg.Queues = 1
	}
	if cfg.FramesPerWorker == 0 {
		cfg.FramesPerWorker = 8192
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = 2048
	}
	if cfg.IdleSpins == 0 {
		cfg.IdleSpins = 20000
	}
	if cfg.TxBudget == 0 {
		cfg.TxBudget = 256
	}
	eng := &Engine{cfg: cfg, modes: map[string]xdp.AttachMode{}}
	e = eng
	defer func() {
		if err != nil {
			eng.close() // e itself is nil after "return nil, err"
		}
	}()
	if e.steer, err = xdp.NewSteering(2 * cfg.Queues); err != nil {
		return nil, err
	}
	if e.mirror, err = nexthop.New(nil); err != nil {
		return nil, err
	}
	if e.raw, err = newRawSender(); err != nil {
		return nil, err
	}
	for _, a := range cfg.Local {
		if err := e.steer.AddLocal(a); err != nil {
			return nil, err
		}
	}
	var ifaces [2]*net.Interface
	for i, ifc := range []Interface{cfg.Inside, cfg.Outside} {
		if ifaces[i], err = net.InterfaceByName(ifc.Name); err != nil {
			return nil, fmt.Errorf("engine interface %q: %w", ifc.Name, err)
		}
		if e.modes[ifc.Name], err = e.steer.Attach(ifc.Name, cfg.Attach); err != nil {
			return nil, err
		}
		base := uint32(i * cfg.Queues)
		if err := e.steer.SetInterface(ifaces[i].Index, xdp.InterfaceConfig{DataBase: base, Flags: xdp.SteerData}); err != nil {
			return nil, err
		}
	}
	for q := 0; q < cfg.Queues; q++ {
		w, err := e.newWorker(q, ifaces)
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", q, err)
		}
		e.workers = append(e.workers, w)
	}
	return e, nil
}

func (e *Engine) newWorker(q int, ifaces [2]*net.Interface) (*worker, error) {
	cfg := &e.cfg
	umem, err := xsk.NewUMEM(xsk.UMEMConfig{FrameSize: cfg.FrameSize, FrameCount: cfg.FramesPerWorker})
	if err != nil {
		return nil, err
	}
	e.umems = append(e.umems, umem)
	w := &worker{
		id: q, core: -1, umem: umem,
		free:   xsk.NewFreeList(umem, 0, umem.FrameCount()),
		table:  cfg.Table,
		mirror: e.mirror, policy: &e.cfg.Policy, raw: e.raw,
		idleSpins: cfg.IdleSpins, spinWhenIdle: cfg.SpinWhenIdle, nice: cfg.Nice,
		rx: make([]xsk.Desc, batchSize), addrs: make([]uint64, max(batchSize, cfg.RingSize)),
	}
	if q < len(cfg.Cores) && cfg.Cores[q] >= 0 {
		w.core = cfg.Cores[q]
	}
	sockCfg := xsk.Config{
		RxSize: cfg.RingSize, TxSize: cfg.RingSize, FillSize: cfg.RingSize, CompletionSize: cfg.RingSize,
		Mode: cfg.Bind, NeedWakeup: cfg.NeedWakeup, BusyPoll: cfg.BusyPoll, TxBudget: cfg.TxBudget,
	}
	ifcs := [2]Interface{cfg.Inside, cfg.Outside}
	counts := [2][4]int{
		{CountRxInside, CountRxBytesInside, CountTxInside, CountTxBytesInside},
		{CountRxOutside, CountRxBytesOutside, CountTxOutside, CountTxBytesOutside},
	}
	for i := range ifcs {
		s, err := xsk.Open(umem, ifcs[i].Name, uint32(q), sockCfg)
		if err != nil {
			return nil, err
		}
		e.socks = append(e.socks, s)
		if err := e.steer.Register(uint32(i*cfg.Queues+q), s.FD()); err != nil {
			return nil, err
		}
		sd := side{
			name: ifcs[i].Name, sock: s, ifindex: ifaces[i].Index,
			tx:      make([]xsk.Desc, 0, 2*batchSize),
			countRx: counts[i][0], countRxBytes: counts[i][1], countTx: counts[i][2], countTxBytes: counts[i][3],
		}
		copy(sd.mac[:], ifaces[i].HardwareAddr)
		if ifcs[i].Addr4.Is4() {
			sd.addr4 = ifcs[i].Addr4.As16()
		}
		if ifcs[i].Addr6.Is6() {
			sd.addr6 = ifcs[i].Addr6.As16()
		}
		w.sides[i] = sd
	}
	// Stock both fill rings before any traffic can arrive.
	w.refill(inside)
	w.refill(outside)
	return w, nil
}

// Start runs the workers, each once it has set its thread up (pinned to
// its core, its nice value set). If one cannot, Start stops them all and
// returns why: an engine with a queue nobody serves does not run. Stop
// releases the engine either way.
func (e *Engine) Start() error {
	if e.started {
		return nil
	}
	e.started = true
	ready := make(chan error, len(e.workers))
	for _, w := range e.workers {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			w.run(ready)
		}()
	}
	var errs []error
	for range e.workers {
		if err := <-ready; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// A worker that could not set its thread up does not forward:
		// stop the others rather than run with queues nobody serves.
		for _, w := range e.workers {
			w.stop.Store(true)
		}
		e.wg.Wait()
		return fmt.Errorf("starting the workers: %w", errors.Join(errs...))
	}
	return nil
}

// Stop stops the workers, closes the sockets and detaches the programs.
func (e *Engine) Stop() error {
	for _, w := range e.workers {
		w.stop.Store(true)
	}
	e.wg.Wait()
	return e.close()
}

func (e *Engine) close() error {
	var errs []error
	for _, s := range e.socks {
		errs = append(errs, s.Close())
	}
	e.socks = nil
	for _, u := range e.umems {
		errs = append(errs, u.Close())
	}
	e.umems = nil
	if e.steer != nil {
		errs = append(errs, e.steer.Close())
		e.steer = nil
	}
	if e.mirror != nil {
		errs = append(errs, e.mirror.Close())
		e.mirror = nil
	}
	errs = append(errs, e.raw.close())
	e.raw = nil
	return errors.Join(errs...)
}

// Counters returns the engine's counters, summed over its workers.
func (e *Engine) Counters() Counters {
	var sum Counters
	for _, w := range e.workers {
		c := w.pub.snapshot()
		sum.Add(&c)
	}
	return sum
}

// WorkerCounters returns each worker's counters.
func (e *Engine) WorkerCounters() []Counters {
	out := make([]Counters, len(e.workers))
	for i, w := range e.workers {
		out[i] = w.pub.snapshot()
	}
	return out
}

// SocketStats returns the kernel's statistics of every socket, by
// "interface/queue".
func (e *Engine) SocketStats() (map[string]xsk.Statistics, error) {
	out := map[string]xsk.Statistics{}
	for _, s := range e.socks {
		st, err := s.Stats()
		if err != nil {
			return nil, err
		}
		out[fmt.Sprintf("%s/%d", s.Interface(), s.Queue())] = st
	}
	return out, nil
}

// AttachModes reports how the steering program is attached on each
// interface.
func (e *Engine) AttachModes() map[string]xdp.AttachMode { return e.modes }

// Steering exposes the steering program, for the sync path to register its
// CCP sockets and for counters.
func (e *Engine) Steering() *xdp.Steering { return e.steer }

// Mirror exposes the neighbour and route mirror's counters.
func (e *Engine) Mirror() *nexthop.Mirror { return e.mirror }
