package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/control/ha"
	"github.com/tandem-gw/tandem/dataplane"
	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// member is a running tandemd: the gateway and, with a peer configured, the
// sync session to it and the HA role machine that decides whether this
// member holds the virtual and SNAT addresses. The sync worker goroutine,
// pinned to cores.sync_worker, runs the session and the role machine;
// everything else reads their state through atomics or asks the worker
// through requests.
type member struct {
	cfg  *config.Config
	log  *slog.Logger
	gw   *gateway
	sink *syncpath.Sink // nil without a peer

	peer *peerLink // nil without a peer
	role atomic.Uint32

	stop chan struct{}
	done chan struct{}
}

// peerLink is the sync session to the peer and the role machine.
type peerLink struct {
	id        uint8
	name      string
	clk       clock.Clock
	transport syncpath.Transport
	session   *syncpath.Session
	machine   *ha.Machine
	epoch     uint32
	requests  chan func()
	// handover is the planned failover waiting for the sync queue to
	// drain; its reply channel gets the outcome.
	handover      chan error
	handoverUntil int64
	transitions   atomic.Uint64
	heartbeat     time.Duration
	// credit is how long the sync worker was stalled since the peer was
	// last heard (lastHeard); stalls counts the stalls.
	credit    int64
	lastHeard int64
	dataHeard int64
	stalls    atomic.Uint64
	probe     *dataProbe // nil: no data-link heartbeats (no peers.data_addresses)
	lastProbe int64
	syncDown  bool // the sync link is silent while the data links are not (logged once)

	remedy *remediation // sync.remediation; nil: off (remediation.go)

	// bothActive is when this member, active, last heard the peer
	// announce the active role too (0: never): see adopt.
	bothActive atomic.Int64
}

// noReplicationEnv, set to 1, switches replication off: the table emits
// no records. Only the failover test's control uses it, to show that
// connections break without replication.
const noReplicationEnv = "TANDEMD_TEST_NO_REPLICATION"

// noAdoptEnv, set to 1, switches adoption off (see adopt): only the flap
// test's control uses it.
const noAdoptEnv = "TANDEMD_TEST_NO_ADOPT"

// errHandoverTimeout: the sync queue did not drain in time.
var errHandoverTimeout = errors.New("the sync queue did not drain within 2s: not handing over")

// startMember starts the gateway and, with a peer, the sync worker.
func startMember(cfg *config.Config, log *slog.Logger) (*member, error) {
	m := &member{cfg: cfg, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	reserveProcs(cfg)
	if len(cfg.Peers) == 0 {
		g, err := startGateway(cfg, log, nil, true)
		if err != nil {
			return nil, err
		}
		m.gw = g
		m.role.Store(uint32(ccp.RoleActive))
		close(m.done)
		return m, m.startOperator()
	}
	if len(cfg.Peers) > 1 {
		return nil, fmt.Errorf("peers: %d configured; tandemd runs as one of a pair (one peer)", len(cfg.Peers))
	}
	var err error
	if m.sink, err = syncpath.NewSink(1 << 18); err != nil {
		return nil, err
	}
	var records conntrack.RecordSink = m.sink
	if os.Getenv(noReplicationEnv) == "1" {
		log.Warn("replication switched off (" + noReplicationEnv + "): the peer learns no connection")
		records = nil
	}
	if m.gw, err = startGateway(cfg, log, records, false); err != nil {
		return nil, err
	}
	// Addresses a killed run of this member left on the interfaces: the
	// kernel would answer ARP for them beside the active member.
	if n := m.gw.releaseStale(); n > 0 {
		log.Warn("released addresses an earlier run left claimed", "addresses", n)
	}
	if err := m.startPeer(); err != nil {
		_ = m.gw.stop()
		return nil, err
	}
	if err := installGuard(m.gw.natAddrs()); err != nil {
		log.Warn("the kernel guard is not installed: if tandemd dies, the kernel may reset translated connections before the peer takes over", "err", err)
	}
	go m.syncWorker()
	if os.Getenv(noAdoptEnv) != "1" {
		go m.adopt()
	}
	if err := m.startOperator(); err != nil {
		_ = m.shutdown()
		return nil, err
	}
	return m, nil
}

func (m *member) startPeer() error {
	c := m.cfg
	p := c.Peers[0]
	keys, err := clusterKeys(c, m.log)
	if err != nil {
		return err
	}
	epoch, err := nextEpoch(uint8(c.Member.ID))
	if err != nil {
		return err
	}
	tr, err := m.syncTransport()
	if err != nil {
		return err
	}
	hb := c.Sync.HeartbeatInterval.Duration
	dead := hb * time.Duration(c.Sync.DeadCount)
	delay := c.Sync.DelayedNotification.Duration
	if delay == 0 {
		delay = -1 // "0s": every connection is synced at once
	}
	clk := clock.NewReal()
	sess, err := syncpath.New(syncpath.Config{
		Cluster: uint16(c.Sync.ClusterID), Self: uint8(c.Member.ID), Peer: uint8(p.ID), Epoch: epoch,
		Keys: keys, Transport: tr, Table: m.gw.table, Sink: m.sink, Clock: clk,
		MTU: c.Sync.MTU, IPv6: c.Sync.Address.Is6(),
		HeartbeatInterval: hb, PeerTimeout: dead, Delay: delay,
		MaxBandwidth: int64(c.Sync.MaxBandwidth.BitsPerSecond / 8),
		Role:         ccp.RoleNone, Priority: uint8(c.Member.Priority),
	})
	if err != nil {
		tr.Close()
		return fmt.Errorf("sync session with %s: %w", p.Name, err)
	}
	mach, err := ha.New(ha.Config{
		Self: uint8(c.Member.ID), Peer: uint8(p.ID), Priority: uint8(c.Member.Priority),
		Preempt: c.HA.Preempt, DeadAfter: dead,
	}, clk.Now())
	if err != nil {
		tr.Close()
		return err
	}
	probe, err := startDataProbe(c, keys, epoch, clk)
	if err != nil {
		tr.Close()
		return err
	}
	m.peer = &peerLink{id: uint8(p.ID), name: p.Name, clk: clk, transport: tr, session: sess, machine: mach,
		epoch: epoch, requests: make(chan func(), 4), heartbeat: hb, probe: probe}
	m.peer.remedy = newRemediation(c, m.log)
	sess.OnRoleClaim(mach.RoleClaim)
	m.log.Info("sync session", "peer", p.Name, "peer_address", p.Address.Addr, "epoch", epoch,
		"heartbeat", hb, "dead_after", dead, "delayed_notification", delay)
	return nil
}

// syncWorker runs the sync session and the role machine on the sync core.
func (m *member) syncWorker() {
	defer close(m.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if core := m.cfg.Cores.SyncWorker; core >= 0 {
		var set unix.CPUSet
		set.Set(core)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			m.log.Error("pinning the sync worker", "core", core, "err", err)
		}
	}
	// Heartbeats must not wait behind the dataplane workers when a core
	// is shared (a small appliance, the lab): the highest time-sharing
	// priority, not a real-time one (the worker spins while it has work,
	// and a real-time spinner would starve its core).
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -20); err != nil {
		m.log.Warn("raising the sync worker's priority", "err", err)
	}
	p := m.peer
	var lastStep int64
	for {
		select {
		case <-m.stop:
			return
		case fn := <-p.requests:
			fn()
		default:
		}
		busy, err := p.session.Poll()
		if err != nil {
			if errors.Is(err, syncpath.ErrClosed) {
				return
			}
			m.log.Error("sync session", "err", err)
			time.Sleep(time.Millisecond)
		}
		if now := p.clk.Now(); now-lastStep >= int64(time.Millisecond) {
			if lastStep != 0 && now-lastStep > 2*int64(p.heartbeat) {
				// This worker did not run (the core was taken, by
				// interrupts or the kernel): time it could not listen
				// is no evidence of a dead peer.
				p.stalls.Add(1)
				p.credit += now - lastStep
			}
			lastStep = now
			m.step(now)
		}
		if !busy {
			runtime.Gosched()
		}
	}
}

// input is the role machine's view of the peer now. The peer counts as
// heard only once a heartbeat told its role. Time this member's own sync
// worker was stalled since the peer was last heard is credited to the
// peer (see syncWorker).
func (p *peerLink) input(now int64) ha.Input {
	ps := p.session.PeerState()
	dataHeard, dataRole, dataPrio := p.probe.heard()
	if ps.LastHeard != p.lastHeard || dataHeard != p.dataHeard {
		p.lastHeard, p.dataHeard, p.credit = ps.LastHeard, dataHeard, 0
	}
	in := ha.Input{Now: now, Peer: ha.Peer{
		Role: ps.Role, Priority: ps.Priority, Synced: ps.Status&ccp.StatusSynced != 0,
	}}
	if ps.Heartbeats > 0 {
		in.Peer.SyncHeard = min(ps.LastHeard+p.credit, now)
	}
	if dataHeard != 0 {
		in.Peer.DataHeard = min(dataHeard+p.credit, now)
		if dataHeard > ps.LastHeard {
			in.Peer.Role, in.Peer.Priority = dataRole, dataPrio // the fresher word
		}
	}
	return in
}

// step runs the role machine once and carries out what it decides.
// Precondition: on the sync worker.
func (m *member) step(now int64) {
	p := m.peer
	p.remedy.step(p.session, now)
	if p.probe != nil && now-p.lastProbe >= int64(p.heartbeat) {
		p.lastProbe = now
		role, prio := p.session.Role()
		var status uint8 = ccp.StatusReady
		if p.session.Synced() {
			status |= ccp.StatusSynced
		}
		p.probe.send(role, prio, status)
	}
	in := p.input(now)
	in.Drained = m.sink.Len() == 0 && p.session.Idle()
	if p.handover != nil {
		switch {
		case m.sink.Len() == 0 && p.session.Idle():
			p.handover <- p.machine.Handover(in)
			p.handover = nil
		case now > p.handoverUntil:
			p.handover <- errHandoverTimeout
			p.handover = nil
		}
	}
	dead := int64(p.heartbeat) * int64(m.cfg.Sync.DeadCount)
	switch syncSilent, dataAlive := now-in.Peer.SyncHeard >= dead, in.Peer.DataHeard != 0 && now-in.Peer.DataHeard < dead; {
	case syncSilent && dataAlive && !p.syncDown:
		p.syncDown = true
		m.log.Warn("sync link down: the peer is silent on it but alive on the data links; keeping the role (no split brain)",
			"role", m.Role().String())
	case !syncSilent && p.syncDown:
		p.syncDown = false
		m.log.Info("sync link up again")
	}
	if in.Peer.Role == ccp.RoleActive && m.Role() == ccp.RoleActive {
		p.bothActive.Store(now) // a flap: adopt what the peer creates meanwhile
	}
	t, changed := p.machine.Step(in)
	for _, c := range p.machine.Claims() {
		p.session.SendRoleClaim(c)
	}
	if !changed {
		return
	}
	if t.From == ccp.RoleActive && t.To == ccp.RoleActive {
		// The peer released the active role it held too: a flap, even if
		// no poll saw both members active (a member resuming from a stop
		// can read the peer's "active" heartbeats and its RELEASE in one
		// batch). Adoption keys on bothActive: without this, a CI run
		// adopted nothing and the connections the peer made during the
		// flap broke at the next failover (TestFlapThenFailover).
		p.bothActive.Store(now)
	}
	p.transitions.Add(1)
	start := time.Now()
	var claimed time.Duration
	promoted := 0
	switch t.To {
	case ccp.RoleActive:
		// Addresses first: the engine forwards a connection whoever owns
		// it, so traffic resumes as soon as the neighbours move; the
		// promotion walks the whole table.
		if err := m.gw.claim(true); err != nil {
			m.log.Error("claiming the addresses", "err", err)
		}
		if t.From == ccp.RoleActive {
			m.gw.announceClaimed() // after a flap: the neighbours the peer moved come back
		}
		claimed = time.Since(start)
		go m.reannounce()
		if t.Promote {
			promoted = m.gw.table.PromoteOwner(p.id, uint8(m.cfg.Member.ID))
		}
	default:
		m.gw.unclaim()
	}
	m.logCounters("counters at the role change")
	m.role.Store(uint32(t.To))
	p.session.SetRole(t.To, uint8(m.cfg.Member.Priority))
	p.session.SendHeartbeat()
	m.log.Info("role", "from", t.From.String(), "to", t.To.String(), "reason", t.Reason,
		"claimed_in", claimed, "promoted", promoted, "took", time.Since(start))
}

// reannounce repeats the announcements of a takeover, for neighbours that
// missed the first.
func (m *member) reannounce() {
	for _, d := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, time.Second} {
		select {
		case <-m.stop:
			return
		case <-time.After(d):
		}
		if ccp.Role(m.role.Load()) != ccp.RoleActive {
			return
		}
		select {
		case m.peer.requests <- func() {
			if ccp.Role(m.role.Load()) == ccp.RoleActive {
				m.gw.announceClaimed()
			}
		}:
		case <-m.stop:
			return
		}
	}
}

// Role returns this member's role.
func (m *member) Role() ccp.Role { return ccp.Role(m.role.Load()) }

// failover hands the active role to the peer (tandemctl failover): the
// sync queue drains first, so that the peer holds every connection.
func (m *member) failover() error {
	if m.peer == nil {
		return errors.New("no peer configured")
	}
	reply := make(chan error, 1)
	select {
	case m.peer.requests <- func() {
		if m.peer.handover != nil {
			reply <- errors.New("a failover is already under way")
			return
		}
		m.peer.handover = reply
		m.peer.handoverUntil = m.peer.clk.Now() + int64(2*time.Second)
	}:
	case <-m.done:
		return errors.New("the sync worker has stopped")
	}
	select {
	case err := <-reply:
		return err
	case <-m.done:
		return errors.New("the sync worker has stopped")
	}
}

// shutdown stops the member: the sync worker (announcing that this member
// gives up the active role), the gateway, the addresses and the guard.
func (m *member) shutdown() error {
	m.stopOperator()
	m.logCounters("counters at shutdown")
	if m.peer != nil {
		if m.Role() == ccp.RoleActive {
			done := make(chan struct{})
			select {
			case m.peer.requests <- func() {
				m.peer.session.SendRoleClaim(ccp.RoleClaim{Action: ccp.RoleReleaseActive, Priority: uint8(m.cfg.Member.Priority), Term: uint64(time.Now().UnixNano())})
				close(done)
			}:
				<-done
			case <-m.done:
			}
		}
		close(m.stop)
		<-m.done
		m.peer.transport.Close()
		m.peer.probe.close()
	}
	err := m.gw.stop()
	if m.peer != nil {
		if gerr := removeGuard(); gerr != nil {
			m.log.Warn("removing the kernel guard", "err", gerr)
		}
	}
	return err
}

// clusterKeys loads sync.key_file; without one, frames are sealed under a
// key derived from the cluster id alone, which authenticates nothing
// (config validation warns): the lab's setting.
func clusterKeys(c *config.Config, log *slog.Logger) (*ccp.Keyring, error) {
	if c.Sync.KeyFile != "" {
		return ccp.LoadKeyFile(c.Sync.KeyFile, func(msg string) { log.Warn(msg) })
	}
	k := sha256.Sum256([]byte("tandem unauthenticated cluster " + strconv.Itoa(c.Sync.ClusterID)))
	r := ccp.NewKeyring()
	if err := r.Add(1, ccp.AlgAES256GCM, k[:]); err != nil {
		return nil, err
	}
	return r, nil
}

// epochDir holds each member's last boot epoch, so that a restart within
// the same second still gets a greater one (an epoch must never repeat
// under the same keys: it is part of the AEAD nonce).
var epochDir = "/run/tandem"

var epochMu sync.Mutex

// nextEpoch returns max(now in seconds, last epoch + 1) and records it.
func nextEpoch(id uint8) (uint32, error) {
	epochMu.Lock()
	defer epochMu.Unlock()
	e := uint32(time.Now().Unix())
	path := filepath.Join(epochDir, fmt.Sprintf("epoch-member%d", id))
	if b, err := os.ReadFile(path); err == nil {
		if last, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && uint32(last) >= e {
			e = uint32(last) + 1
		}
	}
	if err := os.MkdirAll(epochDir, 0o700); err != nil {
		return 0, fmt.Errorf("boot epoch: %w", err)
	}
	if err := os.WriteFile(path, []byte(strconv.FormatUint(uint64(e), 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("boot epoch: %w", err)
	}
	return e, nil
}

// logCounters logs the engine's non-zero counters.
func (m *member) logCounters(msg string) {
	c := m.gw.engine.Counters()
	var attrs []any
	for i, v := range c {
		if v != 0 {
			attrs = append(attrs, dataplane.CounterName(i), v)
		}
	}
	m.log.Info(msg, attrs...)
}

// reserveProcs raises GOMAXPROCS so that every goroutine locked to a
// pinned thread (each queue's worker, the sync worker) holds a P of its
// own and the rest of the runtime (control plane, ager, API, GC) still has
// as many as there are CPUs. With the default (one P per CPU) the spinning
// workers hold every P, and the sync worker waits for Go's 10 ms
// preemption to run: heartbeats late by tens of milliseconds, false
// failovers on a busy member. The threads stay on their pinned cores; Ps
// are not CPUs.
func reserveProcs(cfg *config.Config) {
	locked := 1 // the sync worker
	for _, ifc := range cfg.Interfaces {
		if ifc.Role == config.RoleInside {
			locked += ifc.Queues
		}
	}
	if want := runtime.NumCPU() + locked; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}

// syncTransport opens the sync transport the config names: the kernel's
// UDP socket, or an AF_XDP socket on queue 0 of the sync interface.
func (m *member) syncTransport() (syncpath.Transport, error) {
	c := m.cfg
	p := c.Peers[0]
	port := uint16(c.Sync.Port)
	local := netip.AddrPortFrom(c.Sync.Address.Addr, port)
	peers := map[uint8]netip.AddrPort{uint8(p.ID): netip.AddrPortFrom(p.Address.Addr, port)}
	if c.Sync.Transport != config.SyncAFXDP {
		return syncpath.ListenUDP(syncpath.UDPConfig{Local: local, Peers: peers})
	}
	ifname, _, _ := c.InterfaceByRole(config.RoleSync)
	mode, err := xsk.ParseBindMode(c.XDP.BindMode)
	if err != nil {
		return nil, err
	}
	attach, err := xdp.ParseAttachMode(c.XDP.AttachMode)
	if err != nil {
		return nil, err
	}
	tr, err := syncpath.ListenXSK(syncpath.XSKConfig{
		Ifname: ifname, Local: local, Peers: peers, MTU: c.Sync.MTU,
		Mode: mode, Attach: attach, Neighbours: m.gw.engine.Mirror(),
	})
	if err != nil {
		return nil, fmt.Errorf("AF_XDP sync transport on %s: %w", ifname, err)
	}
	m.log.Info("sync transport", "kind", "afxdp", "interface", ifname, "mode", tr.Mode().String(), "attach", tr.AttachMode().String())
	return tr, nil
}

// adopt makes the active member the owner of the connections its backup
// peer owns after both were active (a flap: a false failover on a starved
// machine, a healed partition). The peer owns the connections that began
// through it, though they now go through this member; as their owner the
// peer would let them age out and delete them here, and this member's
// updates of them would never reach it. The peer's records of them arrive
// up to a notification delay after the flap, so adoption runs once a
// second, off the sync worker (the walk takes tens of milliseconds on a big
// table), from the flap until twice the delay and 5 s have passed.
func (m *member) adopt() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		flap := m.peer.bothActive.Load()
		window := int64(2*m.peer.session.Delay() + 5*time.Second)
		if flap == 0 || m.peer.clk.Now()-flap > window || m.Role() != ccp.RoleActive {
			continue
		}
		if ps := m.peer.session.PeerState(); ps.Role != ccp.RoleBackup {
			continue
		}
		if n := m.gw.table.PromoteOwner(m.peer.id, uint8(m.cfg.Member.ID)); n > 0 {
			m.log.Info("adopted connections the peer created while it was active too", "connections", n)
		}
	}
}
