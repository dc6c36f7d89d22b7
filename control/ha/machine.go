package ha

import (
	"errors"
	"fmt"
	"time"

	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// Config configures a Machine.
type Config struct {
	Self     uint8 // this member's id
	Peer     uint8 // the peer's id
	Priority uint8 // higher is preferred as active
	Preempt  bool  // take the active role back from a lower-ranked active
	// DeadAfter: no heartbeat on any link for this long and the peer is
	// dead (heartbeat interval × dead count).
	DeadAfter time.Duration
	// StartupWait is how long a starting member listens for an active
	// peer before it goes active on its own (default 2 × DeadAfter).
	StartupWait time.Duration
	// ClaimRepeat is how often a preemption claim is repeated until the
	// active releases (default DeadAfter).
	ClaimRepeat time.Duration
}

// Peer is what this member knows of its peer at a Step.
type Peer struct {
	SyncHeard int64 // last authenticated frame on the sync link, ns; 0: never
	DataHeard int64 // last heartbeat on a data link, ns; 0: never (or no data-link check)
	Role      ccp.Role
	Priority  uint8
	Synced    bool // its heartbeats say it holds a complete copy of our state
}

// Input is one Step's view of the world.
type Input struct {
	Now  int64 // ns, the same clock as Peer's times
	Peer Peer
	// Drained: this member's sync queue is empty and the peer has acked
	// everything sent. The active hands over to a preempting peer only
	// then, so that the peer holds every connection.
	Drained bool
}

// Transition is a role change Step decided. The caller carries it out in
// this order: Promote (the peer's connections become ours), then claim or
// release the addresses, then announce the new role.
type Transition struct {
	From, To ccp.Role
	Promote  bool   // take over the peer's connections
	Reason   string // for the log and the operator
}

// Machine is the role machine of one member with one peer. It is used by
// one goroutine (the sync worker); Role may be read from others through
// the caller's own publication.
type Machine struct {
	cfg      Config
	role     ccp.Role
	started  int64
	term     uint64
	released bool // the peer sent RELEASE: take over at the next step
	claimed  bool // the peer claimed the active role (preemption): release
	handover bool // a planned failover was asked for
	out      []ccp.RoleClaim
	lastAsk  int64 // when this member last sent a preemption claim
	// releasedAt is when this member last gave the active role up: for
	// DeadAfter after it, it does not take the role back from a peer whose
	// heartbeats do not show the new role yet.
	releasedAt int64
	// peerReleasedAt is when the peer last handed this member the active
	// role: for DeadAfter after it, a heartbeat of the peer's still saying
	// active was sent before its RELEASE (the heartbeats and the data-link
	// probes overtake it), not a second active member.
	peerReleasedAt int64
}

// New returns a machine in the starting role (RoleNone) at time now.
func New(cfg Config, now int64) (*Machine, error) {
	if cfg.Self == 0 || cfg.Peer == 0 || cfg.Self == cfg.Peer {
		return nil, fmt.Errorf("ha: member ids self %d, peer %d", cfg.Self, cfg.Peer)
	}
	if cfg.DeadAfter <= 0 {
		return nil, errors.New("ha: DeadAfter must be positive")
	}
	if cfg.StartupWait <= 0 {
		cfg.StartupWait = 2 * cfg.DeadAfter
	}
	if cfg.ClaimRepeat <= 0 {
		cfg.ClaimRepeat = cfg.DeadAfter
	}
	return &Machine{cfg: cfg, role: ccp.RoleNone, started: now, lastAsk: -1 << 62, releasedAt: -1 << 62, peerReleasedAt: -1 << 62}, nil
}

// Role returns the current role.
func (m *Machine) Role() ccp.Role { return m.role }

// Outranks reports whether a member of priority a and id ida is preferred
// as active over one of priority b and id idb: higher priority, then the
// lower id.
func Outranks(a, ida, b, idb uint8) bool {
	if a != b {
		return a > b
	}
	return ida < idb
}

func (m *Machine) outranksPeer(p *Peer) bool {
	return Outranks(m.cfg.Priority, m.cfg.Self, p.Priority, m.cfg.Peer)
}

// RoleClaim records a ROLE message from the peer; the next Step acts on it.
func (m *Machine) RoleClaim(c ccp.RoleClaim) {
	switch c.Action {
	case ccp.RoleReleaseActive:
		m.released = true
	case ccp.RoleClaimActive:
		m.claimed = true
	}
	m.term = max(m.term, c.Term)
}

// ErrNotActive and ErrPeerNotReady are Handover's refusals.
var (
	ErrNotActive    = errors.New("this member is not active")
	ErrPeerNotReady = errors.New("the peer is not alive on the sync link or has not finished its full sync")
)

// Handover asks for a planned failover: at the next Step the active
// releases the role to the peer. It is refused unless this member is
// active and the peer, as last seen, is alive on the sync link and synced.
// The caller drains its sync queue first, so that the peer holds every
// connection when it takes over.
func (m *Machine) Handover(in Input) error {
	if m.role != ccp.RoleActive {
		return ErrNotActive
	}
	if !m.aliveOnSync(in) || !in.Peer.Synced {
		return ErrPeerNotReady
	}
	m.handover = true
	return nil
}

// Claims returns the ROLE messages Step decided to send since the last
// call, and forgets them. The caller sends them to the peer.
func (m *Machine) Claims() []ccp.RoleClaim {
	out := m.out
	m.out = nil // the caller may keep out: claims are rare, a new slice is cheap
	return out
}

func (m *Machine) send(a ccp.RoleAction) {
	m.term++
	m.out = append(m.out, ccp.RoleClaim{Action: a, Priority: m.cfg.Priority, Term: m.term})
}

func (m *Machine) aliveOnSync(in Input) bool {
	return in.Peer.SyncHeard != 0 && in.Now-in.Peer.SyncHeard < int64(m.cfg.DeadAfter)
}

func (m *Machine) aliveOnData(in Input) bool {
	return in.Peer.DataHeard != 0 && in.Now-in.Peer.DataHeard < int64(m.cfg.DeadAfter)
}

// Step decides the role from in. It returns the transition, if any.
func (m *Machine) Step(in Input) (Transition, bool) {
	released, claimed, handover := m.released, m.claimed, m.handover
	m.released, m.claimed, m.handover = false, false, false
	onSync, onData := m.aliveOnSync(in), m.aliveOnData(in)
	alive := onSync || onData
	peerActive := alive && in.Peer.Role == ccp.RoleActive
	p := &in.Peer

	switch m.role {
	case ccp.RoleNone:
		switch {
		case peerActive:
			return m.become(ccp.RoleBackup, false, "the peer is active")
		case alive && m.outranksPeer(p):
			return m.become(ccp.RoleActive, false, "no active member, and this one outranks the peer")
		case !alive && in.Now-m.started >= int64(m.cfg.StartupWait):
			return m.become(ccp.RoleActive, false, fmt.Sprintf("no peer heard for %v after start", m.cfg.StartupWait))
		}
	case ccp.RoleBackup:
		switch {
		case released && alive:
			m.peerReleasedAt = in.Now
			return m.become(ccp.RoleActive, true, "the active handed over (planned failover or preemption)")
		case !alive:
			return m.become(ccp.RoleActive, true, fmt.Sprintf("the peer is dead: no heartbeat on the sync link or a data link for %v", m.cfg.DeadAfter))
		case !peerActive && m.outranksPeer(p) && in.Now-m.releasedAt >= int64(m.cfg.DeadAfter):
			return m.become(ccp.RoleActive, true, "no active member, and this one outranks the peer")
		case peerActive && m.cfg.Preempt && onSync && m.outranksPeer(p) && in.Now-m.lastAsk >= int64(m.cfg.ClaimRepeat):
			m.lastAsk = in.Now
			m.send(ccp.RoleClaimActive) // the active releases; RELEASE then promotes us
		}
	case ccp.RoleActive:
		switch {
		case released && !peerActive:
			// Both were active (a flap, a healed partition) and the peer
			// gave way: the connections it created meanwhile are ours
			// now, and the neighbours it moved must come back.
			m.peerReleasedAt = in.Now
			return m.become(ccp.RoleActive, true, "the peer released the active role it held too: its connections are ours")
		case peerActive && !m.outranksPeer(p) && in.Now-m.peerReleasedAt >= int64(m.cfg.DeadAfter):
			return m.release(in.Now, "both members are active, and the peer outranks this one")
		case handover && onSync && p.Synced:
			return m.release(in.Now, "planned failover")
		case claimed && onSync && p.Synced && !m.outranksPeer(p):
			if !in.Drained {
				m.claimed = true // keep the claim until the queue has drained
				break
			}
			return m.release(in.Now, "the peer outranks this one and preempts")
		}
	}
	return Transition{}, false
}

func (m *Machine) become(to ccp.Role, promote bool, reason string) (Transition, bool) {
	t := Transition{From: m.role, To: to, Promote: promote, Reason: reason}
	m.role = to
	return t, true
}

func (m *Machine) release(now int64, reason string) (Transition, bool) {
	m.releasedAt = now
	m.send(ccp.RoleReleaseActive)
	return m.become(ccp.RoleBackup, false, reason)
}
