// Package remediate decides the opt-in, telemetry-driven changes of the
// delayed-notification delay (sync.remediation): fed the sync lag and the
// sync backlog at regular times, a Controller says when to raise the delay
// one step (the pressure lasted) and when to lower it one step again (the
// pressure is gone), never below the base delay and never above the cap.
//
// It owns the decision only: no I/O, no clock of its own (times are passed
// in), no session. tandemd measures (LagWindow over the session's lag
// histogram, the session's backlog), applies each decision with
// syncpath.Session.SetDelay, and logs and counts it.
package remediate

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// FirstStep is where a multiplying step raises a base delay of 0 (delayed
// notifications off): no factor moves 0.
const FirstStep = time.Second

// Config is a Controller's settings (config sync.remediation).
type Config struct {
	Base           time.Duration // the delay to return to (sync.delayed_notification, or tandemctl set); 0: off
	Max            time.Duration // the cap, above Base
	Factor         float64       // > 1: each step multiplies the delay; 0: each step adds Add
	Add            time.Duration // with Factor 0, what each step adds
	LagThreshold   time.Duration // lag p99 above this is pressure; at most half of it is calm
	QueueThreshold int           // backlog above this is pressure; at most half of it is calm
	Hold           time.Duration // how long pressure (or calm) must last before a step
}

// Validate reports settings a Controller cannot work with.
func (c Config) Validate() error {
	switch {
	case c.Base < 0:
		return fmt.Errorf("base delay %v: negative", c.Base)
	case c.Max <= c.Base:
		return fmt.Errorf("max delay %v: not above the base delay %v", c.Max, c.Base)
	case c.Factor == 0 && c.Add <= 0:
		return errors.New("step: neither a factor nor a duration to add")
	case c.Factor != 0 && !(c.Factor > 1):
		return fmt.Errorf("step factor %v: not above 1", c.Factor)
	case c.LagThreshold <= 0 || c.QueueThreshold <= 0 || c.Hold <= 0:
		return fmt.Errorf("thresholds (lag %v, queue %d) and hold %v must be positive", c.LagThreshold, c.QueueThreshold, c.Hold)
	}
	return nil
}

// Sample is what the Controller is fed: the sync figures at Now.
type Sample struct {
	Now       int64         // nanoseconds, any monotonic origin
	PeerAlive bool          // without a live peer, lag and backlog say nothing about the link: no step
	LagP99    time.Duration // over the recent window (LagWindow)
	Frames    uint64        // frames acknowledged in that window; 0: no lag figure (idle link)
	Backlog   int           // records waiting to be sent (not those the delay holds)
}

// Direction is which way a Decision moves the delay.
type Direction int8

// The directions.
const (
	Hold  Direction = iota // no change
	Raise                  // one step up
	Lower                  // one step down
)

func (d Direction) String() string {
	switch d {
	case Raise:
		return "raised"
	case Lower:
		return "lowered"
	}
	return "held"
}

// Decision is the outcome of one Observe. With Dir Hold, the rest is
// empty.
type Decision struct {
	Dir      Direction
	From, To time.Duration
	// Reason says what was measured against which threshold:
	// "lag p99 80ms > 50ms", "backlog 150000 > 100000 records",
	// "calm for 2s: lag p99 3ms ≤ 25ms, backlog 12 ≤ 50000 records".
	Reason string
}

// Controller is the decision state. It is not safe for concurrent use:
// one goroutine (tandemd's sync worker) feeds it.
type Controller struct {
	cfg   Config
	level int // steps above Base
	// pressureSince and calmSince are when the current run of pressure
	// or calm samples began; 0: none.
	pressureSince, calmSince int64
	// settleUntil: after a raise, pressure counts only from when the
	// delay it replaced has passed (records already held keep their
	// release time, so the raise shows no effect before).
	settleUntil int64
}

// New returns a Controller at the base delay.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("remediation: %w", err)
	}
	return &Controller{cfg: cfg}, nil
}

// Delay is the delay the Controller wants now.
func (c *Controller) Delay() time.Duration { return c.delayAt(c.level) }

// Base is the delay the Controller returns to.
func (c *Controller) Base() time.Duration { return c.cfg.Base }

// Config returns the Controller's settings.
func (c *Controller) Config() Config { return c.cfg }

// delayAt is the delay n steps above the base, capped at Max.
func (c *Controller) delayAt(n int) time.Duration {
	if n <= 0 {
		return c.cfg.Base
	}
	var d float64
	if c.cfg.Factor != 0 {
		start := float64(c.cfg.Base)
		if start == 0 {
			start, n = float64(FirstStep), n-1
		}
		d = start * math.Pow(c.cfg.Factor, float64(n))
	} else {
		d = float64(c.cfg.Base) + float64(n)*float64(c.cfg.Add)
	}
	if d >= float64(c.cfg.Max) {
		return c.cfg.Max
	}
	return time.Duration(d)
}

// Rebase makes base the delay to return to, and the delay now (the
// operator set sync.delayed_notification): the steps start again from it.
// A base at or above Max leaves no room for a step until the next Rebase.
func (c *Controller) Rebase(base time.Duration) {
	c.cfg.Base = max(base, 0)
	c.level = 0
	c.pressureSince, c.calmSince, c.settleUntil = 0, 0, 0
}

// Observe takes one sample and decides. Pressure (lag p99 or backlog
// above its threshold) held for Hold raises the delay one step; calm (both
// at most half their threshold) held for Hold lowers it one step; the
// figures in between hold the delay and restart both counts, which keeps a
// load near a threshold from flapping the delay.
func (c *Controller) Observe(s Sample) Decision {
	if !s.PeerAlive {
		c.pressureSince, c.calmSince = 0, 0
		return Decision{}
	}
	cfg := &c.cfg
	lagHigh := s.Frames > 0 && s.LagP99 > cfg.LagThreshold
	backlogHigh := s.Backlog > cfg.QueueThreshold
	calm := (s.Frames == 0 || s.LagP99 <= cfg.LagThreshold/2) && s.Backlog <= cfg.QueueThreshold/2
	switch {
	case lagHigh || backlogHigh:
		c.calmSince = 0
		if c.pressureSince == 0 {
			c.pressureSince = s.Now
		}
		from := c.Delay()
		if s.Now-max(c.pressureSince, c.settleUntil) < int64(cfg.Hold) || from >= cfg.Max {
			return Decision{}
		}
		c.level++
		c.pressureSince = 0
		c.settleUntil = s.Now + int64(from)
		var why []string
		if lagHigh {
			why = append(why, fmt.Sprintf("lag p99 %v > %v", s.LagP99, cfg.LagThreshold))
		}
		if backlogHigh {
			why = append(why, fmt.Sprintf("backlog %d > %d records", s.Backlog, cfg.QueueThreshold))
		}
		return Decision{Dir: Raise, From: from, To: c.Delay(), Reason: join(why)}
	case calm:
		c.pressureSince = 0
		if c.calmSince == 0 {
			c.calmSince = s.Now
		}
		if c.level == 0 || s.Now-c.calmSince < int64(cfg.Hold) {
			return Decision{}
		}
		from := c.Delay()
		c.level--
		c.calmSince = s.Now
		lag := "no frames"
		if s.Frames > 0 {
			lag = fmt.Sprintf("lag p99 %v ≤ %v", s.LagP99, cfg.LagThreshold/2)
		}
		return Decision{Dir: Lower, From: from, To: c.Delay(),
			Reason: fmt.Sprintf("calm for %v: %s, backlog %d ≤ %d records", cfg.Hold, lag, s.Backlog, cfg.QueueThreshold/2)}
	default:
		c.pressureSince, c.calmSince = 0, 0
		return Decision{}
	}
}

func join(s []string) string {
	if len(s) == 2 {
		return s[0] + ", " + s[1]
	}
	return s[0]
}
