package syncpath

import (
	"sync/atomic"

	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// PeerState is what this member last heard from its peer: enough for the
// HA role machine (control/ha) to decide who holds the virtual addresses.
type PeerState struct {
	// LastHeard is the session clock time of the last authenticated frame
	// from the peer, any opcode (ns); 0: never.
	LastHeard int64
	Epoch     uint32   // the peer's boot epoch; 0: never heard
	Role      ccp.Role // from its last heartbeat
	Priority  uint8
	Status    uint8  // ccp.StatusReady | ccp.StatusSynced
	Conns     uint32 // connections in the peer's table
	// Heartbeats counts the peer's heartbeats received: a change tells
	// the caller a new one arrived.
	Heartbeats uint64
}

// peerView is the session goroutine's record of the peer, in atomics so
// that PeerState may be read from any goroutine (each field is
// independent: relaxed loads and stores are enough).
type peerView struct {
	lastHeard atomic.Int64
	epoch     atomic.Uint32
	hb        atomic.Uint64 // role | priority<<8 | status<<16 | conns<<32
	own       atomic.Uint32 // this member's role | priority<<8, announced in heartbeats
	claims    atomic.Pointer[func(ccp.RoleClaim)]
}

// PeerState returns what this member last heard from the peer. Safe from
// any goroutine.
func (s *Session) PeerState() PeerState {
	hb := s.peer.hb.Load()
	return PeerState{
		LastHeard:  s.peer.lastHeard.Load(),
		Epoch:      s.peer.epoch.Load(),
		Role:       ccp.Role(hb),
		Priority:   uint8(hb >> 8),
		Status:     uint8(hb >> 16),
		Conns:      uint32(hb >> 32),
		Heartbeats: s.cnt.hbReceived.Load(),
	}
}

// SetRole sets the role and priority this member's heartbeats announce
// from the next one on. Safe from any goroutine.
func (s *Session) SetRole(r ccp.Role, priority uint8) {
	s.peer.own.Store(uint32(r) | uint32(priority)<<8)
}

// Role returns the role and priority the heartbeats announce.
func (s *Session) Role() (ccp.Role, uint8) {
	v := s.peer.own.Load()
	return ccp.Role(v), uint8(v >> 8)
}

// OnRoleClaim sets the function called, on the session's goroutine, for
// each ROLE message the peer sends (nil: ignore them). Safe from any
// goroutine.
func (s *Session) OnRoleClaim(fn func(ccp.RoleClaim)) {
	if fn == nil {
		s.peer.claims.Store(nil)
		return
	}
	s.peer.claims.Store(&fn)
}

// SendRoleClaim sends a ROLE message to the peer at once, ahead of any
// data. ROLE messages are not retransmitted: the caller repeats a claim
// until the peer's heartbeats show it took effect. Precondition: called by
// the session's goroutine (between Polls).
func (s *Session) SendRoleClaim(c ccp.RoleClaim) {
	s.sendMessage(ccp.Header{}, &c)
}

// SendHeartbeat sends a heartbeat now, instead of at the next interval:
// after a role change, so that the peer learns it at once. Precondition:
// called by the session's goroutine.
func (s *Session) SendHeartbeat() {
	s.sendHeartbeat(s.cfg.Clock.Now())
}

// heardHeartbeat records the peer's heartbeat.
func (s *Session) heardHeartbeat(hb *ccp.Heartbeat) {
	s.peer.hb.Store(uint64(hb.Role) | uint64(hb.Priority)<<8 | uint64(hb.Status)<<16 | uint64(hb.Conns)<<32)
}

// heardRoleClaim hands a ROLE message to the caller's function.
func (s *Session) heardRoleClaim(c ccp.RoleClaim) {
	if fn := s.peer.claims.Load(); fn != nil {
		(*fn)(c)
	}
}
