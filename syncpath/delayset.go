package syncpath

import (
	"math"
	"sync/atomic"
	"time"
)

// delayControl carries a run-time change of the notification delay from
// any goroutine to the session's (relaxed atomics: the value is read after
// the flag, both by the one worker).
type delayControl struct {
	ns      atomic.Int64
	changed atomic.Bool
}

// SetDelay changes the delayed-notification delay at run time (what
// `tandemctl set sync.delayed_notification` and the opt-in remediation
// do); 0 or negative switches delayed notifications off and sends every
// held record at once. Records already held keep the release time they
// had. Safe from any goroutine; the session applies it at its next Poll.
func (s *Session) SetDelay(d time.Duration) {
	s.delayCtl.ns.Store(int64(d))
	s.delayCtl.changed.Store(true)
}

// Delay returns the delayed-notification delay in effect (0: off).
func (s *Session) Delay() time.Duration {
	if v := s.delayCtl.ns.Load(); v > 0 {
		return time.Duration(v)
	}
	return 0
}

// applyDelayChange applies a SetDelay. Precondition: the session's
// goroutine, in Poll.
func (s *Session) applyDelayChange(now int64) {
	if !s.delayCtl.changed.Swap(false) {
		return
	}
	d := s.delayCtl.ns.Load()
	switch {
	case d > 0 && s.dl == nil:
		s.dl = newDelayer(d)
	case d > 0:
		s.dl.delay = d
	case s.dl != nil:
		s.relNow = now
		s.dl.release(math.MaxInt64, s.release)
		s.dl = nil
	}
}
