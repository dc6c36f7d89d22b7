package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/synctest"
)

// remediationPair is an active and a backup session over the in-memory
// network, on a manual clock, the active's remediation beside it.
type remediationPair struct {
	t       *testing.T
	clk     *clock.Manual
	net     *synctest.Network
	table   *conntrack.Table
	active  *syncpath.Session
	backup  *syncpath.Session
	rem     *remediation
	log     bytes.Buffer
	created uint32
}

func newRemediationPair(t *testing.T, rc config.Remediation) *remediationPair {
	p := &remediationPair{t: t, clk: clock.NewManual(1e12)}
	p.net = synctest.NewNetwork(p.clk, 1)
	p.net.SetLinks(1, 2, synctest.Link{Delay: 40 * time.Millisecond})
	sink, err := syncpath.NewSink(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	to := conntrack.DefaultTimeouts()
	to.UDP, to.UDPStream = time.Hour, time.Hour
	newTable := func(self uint8, sink conntrack.RecordSink) *conntrack.Table {
		tb, err := conntrack.New(conntrack.Config{MaxEntries: 1 << 16, Self: self, Clock: p.clk, Timeouts: to, Seed: 1, Records: sink})
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	p.table = newTable(1, sink)
	base := 100 * time.Millisecond
	newSession := func(self, peer uint8, tb *conntrack.Table, sink *syncpath.Sink) *syncpath.Session {
		cfg := syncpath.Config{Cluster: 7, Self: self, Peer: peer, Epoch: 1000 + uint32(self), Keys: synctest.Keyring(),
			Transport: p.net.Transport(self), Table: tb, Clock: p.clk, Delay: base}
		if sink != nil {
			cfg.Sink = sink
		}
		s, err := syncpath.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p.active = newSession(1, 2, p.table, sink)
	p.backup = newSession(2, 1, newTable(2, nil), nil)
	c := config.Defaults()
	c.Sync.DelayedNotification = config.D(base)
	c.Sync.Remediation = rc
	p.rem = newRemediation(&c, slog.New(slog.NewTextHandler(&p.log, nil)))
	return p
}

// run creates a connection every millisecond for d, polling both sessions
// and stepping the remediation as the sync worker does.
func (p *remediationPair) run(d time.Duration) {
	for range d / time.Millisecond {
		p.clk.Advance(time.Millisecond)
		p.created++
		var src, dst [16]byte
		src[0], src[1], src[2], src[3] = 10, byte(p.created>>16), byte(p.created>>8), byte(p.created)
		dst[0], dst[1], dst[2], dst[3] = 192, 0, 2, 1
		k := conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoUDP, src, dst, 1024, 53)
		if res := p.table.Track(k, conntrack.Segment{}, conntrack.NATRequest{}); res.Verdict != conntrack.Accept {
			p.t.Fatalf("connection %d: %v", p.created, res.Verdict)
		}
		for _, s := range []*syncpath.Session{p.active, p.backup} {
			if _, err := s.Poll(); err != nil {
				p.t.Fatal(err)
			}
		}
		p.rem.step(p.active, p.clk.Now())
	}
}

var remediationOn = config.Remediation{Enabled: true, LagThreshold: config.D(50 * time.Millisecond), QueueThreshold: 100_000,
	Hold: config.D(time.Second), Step: "2x", MaxDelay: config.D(time.Second)}

// TestRemediationRaisesAndLowersTheDelay: with an 80ms round trip on the
// sync link the lag p99 stays above 50ms, and the delay doubles step by
// step from 100ms to the 1s cap; on a fast link it comes back down to
// 100ms. Each step is logged with its reason and counted.
func TestRemediationRaisesAndLowersTheDelay(t *testing.T) {
	p := newRemediationPair(t, remediationOn)
	if p.rem == nil {
		t.Fatal("remediation off with enabled = true")
	}
	p.run(8 * time.Second)
	st := p.rem.status(p.active)
	if p.active.Delay() != time.Second || st.Delay != time.Second || st.Base != 100*time.Millisecond {
		t.Fatalf("after 8s of 80ms lag: delay %v (status %v, base %v), want the 1s cap\n%s", p.active.Delay(), st.Delay, st.Base, p.log.String())
	}
	if st.StepsUp != 4 || st.StepsDown != 0 || st.LastStep == nil || st.LastStep.Direction != "raised" || st.LagP99 <= 50*time.Millisecond {
		t.Errorf("status %+v, want 4 steps up (100ms, 200ms, 400ms, 800ms, 1s), lag p99 above 50ms", st)
	}
	if !strings.Contains(p.log.String(), `msg="sync delay raised" from=100ms to=200ms reason="lag p99 8`) {
		t.Errorf("no log of the first step:\n%s", p.log.String())
	}

	p.net.SetLinks(1, 2, synctest.Link{Delay: 100 * time.Microsecond})
	p.run(10 * time.Second)
	st = p.rem.status(p.active)
	if p.active.Delay() != 100*time.Millisecond || st.StepsDown != 4 || st.LastStep.Direction != "lowered" {
		t.Fatalf("after 10s on a fast link: delay %v, status %+v; want back at 100ms after 4 steps down\n%s", p.active.Delay(), st, p.log.String())
	}
	if !strings.Contains(p.log.String(), `msg="sync delay lowered" from=200ms to=100ms reason="calm for 1s`) {
		t.Errorf("no log of the last step down:\n%s", p.log.String())
	}
}

// TestRemediationOffDoesNothing: the same lag without enabled = true
// leaves the delay alone.
func TestRemediationOffDoesNothing(t *testing.T) {
	off := remediationOn
	off.Enabled = false
	p := newRemediationPair(t, off)
	if p.rem != nil {
		t.Fatal("remediation on with enabled = false")
	}
	p.run(8 * time.Second)
	st := p.rem.status(p.active)
	if p.active.Delay() != 100*time.Millisecond || st.Remediation || st.StepsUp != 0 || st.Base != 100*time.Millisecond || p.log.Len() != 0 {
		t.Errorf("delay %v, status %+v, log %q; want 100ms untouched", p.active.Delay(), st, p.log.String())
	}
}

// TestRemediationRebase: tandemctl set makes the new delay the base.
func TestRemediationRebase(t *testing.T) {
	p := newRemediationPair(t, remediationOn)
	p.run(3 * time.Second)
	if p.active.Delay() <= 100*time.Millisecond {
		t.Fatalf("delay %v: not raised", p.active.Delay())
	}
	p.rem.rebase(p.active, 300*time.Millisecond)
	if st := p.rem.status(p.active); st.Delay != 300*time.Millisecond || st.Base != 300*time.Millisecond {
		t.Errorf("after the set: %+v, want delay and base 300ms", st)
	}
	p.net.SetLinks(1, 2, synctest.Link{Delay: 100 * time.Microsecond})
	p.run(5 * time.Second)
	if d := p.active.Delay(); d != 300*time.Millisecond {
		t.Errorf("calm after the set: delay %v, want the new base 300ms", d)
	}
}
