package syncpath_test

import (
	"testing"
	"time"

	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
	"github.com/tandem-gw/tandem/syncpath/synctest"
)

// TestPeerStateFollowsHeartbeats: each member sees the role, priority and
// epoch the other announces, and a role change reaches the peer with the
// next heartbeat.
func TestPeerStateFollowsHeartbeats(t *testing.T) {
	r := newRig(t, synctest.Link{}, syncpath.Knobs{})
	if got := r.backup.sess.PeerState(); got.LastHeard != 0 || got.Epoch != 0 {
		t.Fatalf("before any frame: %+v", got)
	}
	r.active.sess.SetRole(ccp.RoleActive, 200)
	r.backup.sess.SetRole(ccp.RoleBackup, 100)
	for range 300 {
		r.step()
	}
	a, b := r.backup.sess.PeerState(), r.active.sess.PeerState()
	if a.Role != ccp.RoleActive || a.Priority != 200 || a.Epoch != 1000 || a.LastHeard == 0 || a.Heartbeats == 0 {
		t.Fatalf("the backup sees the active as %+v", a)
	}
	if b.Role != ccp.RoleBackup || b.Priority != 100 || b.Epoch != 2000 {
		t.Fatalf("the active sees the backup as %+v", b)
	}
	r.backup.sess.SetRole(ccp.RoleActive, 100)
	r.backup.sess.SendHeartbeat()
	r.step()
	if got := r.active.sess.PeerState().Role; got != ccp.RoleActive {
		t.Fatalf("after the backup's role change and heartbeat, the active sees role %v", got)
	}
}

// TestRoleClaimDelivered: a ROLE message reaches the peer's callback with
// its fields intact.
func TestRoleClaimDelivered(t *testing.T) {
	r := newRig(t, synctest.Link{}, syncpath.Knobs{})
	var got []ccp.RoleClaim
	r.active.sess.OnRoleClaim(func(c ccp.RoleClaim) { got = append(got, c) })
	r.step()
	r.backup.sess.SendRoleClaim(ccp.RoleClaim{Action: ccp.RoleClaimActive, Priority: 100, Term: 7})
	for range 5 {
		r.step()
	}
	if len(got) != 1 || got[0] != (ccp.RoleClaim{Action: ccp.RoleClaimActive, Priority: 100, Term: 7}) {
		t.Fatalf("the active received claims %+v", got)
	}
}

// TestSetDelayAtRunTime: raising the delay from off holds new connections
// back; switching it off sends every held one at once.
func TestSetDelayAtRunTime(t *testing.T) {
	r := newRig(t, synctest.Link{Delay: time.Millisecond}, syncpath.Knobs{})
	r.mustConverge(r.settle(time.Second), "empty tables")
	r.active.sess.SetDelay(3 * time.Second)
	r.step()
	if d := r.active.sess.Delay(); d != 3*time.Second {
		t.Fatalf("Delay() = %v after SetDelay(3s)", d)
	}
	r.create(500)
	for range 500 {
		r.step()
	}
	if c := r.active.sess.Counters(); c.RecordsSent != 0 || c.QueueDepth != 500 {
		t.Fatalf("with a 3s delay, after 0.5s: %d records sent, %d waiting; want 0 and 500", c.RecordsSent, c.QueueDepth)
	}
	r.active.sess.SetDelay(0)
	for range 50 {
		r.step()
	}
	if c := r.active.sess.Counters(); c.RecordsSent < 500 {
		t.Fatalf("delay switched off: only %d of 500 held records sent within 50ms", c.RecordsSent)
	}
	r.mustConverge(r.settle(time.Second), "after the delay was switched off")
}
