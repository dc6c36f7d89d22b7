package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/control/remediate"
	"github.com/tandem-gw/tandem/internal/histogram"
	"github.com/tandem-gw/tandem/syncpath"
)

// remediationInterval is how often the remediation measures and decides.
const remediationInterval = 100 * time.Millisecond

// remediation is sync.remediation on a running member: every
// remediationInterval the sync worker measures the sync lag of the last
// second and the backlog, feeds the controller (control/remediate), applies
// its decision with Session.SetDelay, logs it and counts it. A nil
// *remediation is remediation off: its methods do nothing.
type remediation struct {
	log *slog.Logger
	// Owned by the sync worker.
	ctl    *remediate.Controller
	window remediate.LagWindow
	lag    histogram.Histogram // the session's cumulative lag, copied
	next   int64               // when to measure next

	mu sync.Mutex      // guards st
	st api.DelayStatus // for the API; Delay is read from the session
}

// newRemediation returns the remediation the config asks for, or nil when
// it is off. Settings the controller refuses (config validation allows
// none of them) are logged and leave it off.
func newRemediation(c *config.Config, log *slog.Logger) *remediation {
	rc := c.Sync.Remediation
	if !rc.Enabled {
		return nil
	}
	factor, add, err := config.ParseStep(rc.Step)
	if err != nil {
		log.Error("sync.remediation is off", "err", err)
		return nil
	}
	cfg := remediate.Config{
		Base: c.Sync.DelayedNotification.Duration, Max: rc.MaxDelay.Duration, Factor: factor, Add: add,
		LagThreshold: rc.LagThreshold.Duration, QueueThreshold: rc.QueueThreshold, Hold: rc.Hold.Duration,
	}
	ctl, err := remediate.New(cfg)
	if err != nil {
		log.Error("sync.remediation is off", "err", err)
		return nil
	}
	log.Info("sync remediation on", "lag_threshold", cfg.LagThreshold, "queue_threshold", cfg.QueueThreshold,
		"hold", cfg.Hold, "step", rc.Step, "base", cfg.Base, "max_delay", cfg.Max)
	return &remediation{log: log, ctl: ctl, st: api.DelayStatus{
		Base: cfg.Base, Remediation: true, Max: cfg.Max, LagThreshold: cfg.LagThreshold, QueueThreshold: cfg.QueueThreshold,
	}}
}

// step measures, decides and applies, at most every remediationInterval.
// Precondition: on the sync worker (the session's goroutine).
func (r *remediation) step(s *syncpath.Session, now int64) {
	if r == nil || now < r.next {
		return
	}
	r.next = now + int64(remediationInterval)
	s.LagSnapshot(&r.lag)
	lagP99, frames := r.window.Observe(now, &r.lag)
	backlog := s.Backlog()
	d := r.ctl.Observe(remediate.Sample{Now: now, PeerAlive: s.Counters().PeerAlive, LagP99: lagP99, Frames: frames, Backlog: backlog})
	if d.Dir != remediate.Hold {
		s.SetDelay(d.To)
		r.log.Info("sync delay "+d.Dir.String(), "from", d.From, "to", d.To, "reason", d.Reason,
			"lag_p99", lagP99, "frames", frames, "backlog", backlog)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.LagP99, r.st.Backlog = lagP99, backlog
	switch d.Dir {
	case remediate.Raise:
		r.st.StepsUp++
	case remediate.Lower:
		r.st.StepsDown++
	default:
		return
	}
	r.st.LastStep = &api.DelayStep{At: time.Now(), Direction: d.Dir.String(), From: d.From, To: d.To, Reason: d.Reason}
}

// rebase makes d the delay in effect and the base (tandemctl set
// sync.delayed_notification). Precondition: on the sync worker.
func (r *remediation) rebase(s *syncpath.Session, d time.Duration) {
	s.SetDelay(d)
	if r == nil {
		return
	}
	r.ctl.Rebase(d)
	r.mu.Lock()
	r.st.Base = d
	r.mu.Unlock()
	r.log.Info("sync remediation starts again from the delay set", "base", d)
}

// status is the remediation's figures with the delay in effect.
func (r *remediation) status(s *syncpath.Session) api.DelayStatus {
	var st api.DelayStatus
	if r != nil {
		r.mu.Lock()
		st = r.st
		r.mu.Unlock()
	} else {
		st.Base = s.Delay()
	}
	st.Delay = s.Delay()
	return st
}
