package syncpath

import "github.com/tandem-gw/tandem/syncpath/ccp"

// Knobs switch mechanisms off for tests that show a test fails without the
// mechanism it guards.
type Knobs struct {
	NoRetransmit bool // no retransmission on nack or timeout, no gap-timeout full sync
	NoFullSync   bool // never stream a snapshot
	NoAuth       bool // take frames that fail authentication as plaintext
	NoCoalesce   bool
	NoSweep      bool
}

// SetKnobs sets s's knobs. Precondition: s is not being polled.
func SetKnobs(s *Session, k Knobs) {
	s.knobs = knobs{
		noRetransmit: k.NoRetransmit, noFullSync: k.NoFullSync, noAuth: k.NoAuth,
		noCoalesce: k.NoCoalesce, noSweep: k.NoSweep,
	}
}

// StreamState returns the receive side's cumulative ack.
func StreamState(s *Session) (cum uint64, started bool) { return s.cum, s.started }

// LoseStream makes s give up the peer's stream and ask for a full sync, as
// its gap timeout does. Precondition: s is not being polled.
func LoseStream(s *Session) {
	s.resetStream()
	s.requestFull(s.cfg.Clock.Now(), ccp.ReasonWindow)
}
