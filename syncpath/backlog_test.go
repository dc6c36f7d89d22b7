package syncpath_test

import (
	"testing"
	"time"

	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/synctest"
)

// TestBacklog: records the delay holds are in QueueDepth, not in Backlog;
// records stuck behind the bandwidth limit are in both.
func TestBacklog(t *testing.T) {
	r := newRig(t, synctest.Link{Delay: time.Millisecond}, syncpath.Knobs{})
	r.delay = 3 * time.Second
	r.active = r.newMemberOn(activeID, backupID, 1000, true, r.net.Transport(activeID))
	r.backup = r.newMemberOn(backupID, activeID, 2000, false, r.net.Transport(backupID))
	r.create(1000)
	for range 100 {
		r.step()
	}
	if c, b := r.active.sess.Counters(), r.active.sess.Backlog(); c.QueueDepth != 1000 || b != 0 {
		t.Errorf("1000 connections held by the delay: queue depth %d, backlog %d; want 1000 and 0", c.QueueDepth, b)
	}

	r = newRig(t, synctest.Link{Delay: time.Millisecond}, syncpath.Knobs{})
	r.mustConverge(r.settle(time.Second), "empty tables")
	r.active.sess.SetBandwidth(1e6 / 8) // 1Mbit: far less than 20000 records a second
	r.create(20000)
	for range 100 {
		r.step()
	}
	c, b := r.active.sess.Counters(), r.active.sess.Backlog()
	if b < 10000 || b != c.QueueDepth {
		t.Errorf("20000 records behind a 1Mbit limit: backlog %d, queue depth %d; want most of them in both", b, c.QueueDepth)
	}
}
