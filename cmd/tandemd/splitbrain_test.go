package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// splitBrain runs a pair, takes the sync link down on gw2's side, and
// reports whether gw2 claimed the active role while gw1 kept it; then it
// brings the link back and waits for one active member again.
func splitBrain(t *testing.T, dataLinks bool) (claimed bool) {
	l := labtest.New(t, lab.Config{Queues: 2})
	cfgs := [][]byte{failoverConfig(t, 1), failoverConfig(t, 2)}
	if !dataLinks {
		for i, c := range cfgs {
			lines := bytes.Split(c, []byte("\n"))
			var out [][]byte
			for _, ln := range lines {
				if !bytes.HasPrefix(ln, []byte("data_addresses")) {
					out = append(out, ln)
				}
			}
			cfgs[i] = bytes.Join(out, []byte("\n"))
			if bytes.Contains(cfgs[i], []byte("data_addresses")) {
				t.Fatal("could not remove peers.data_addresses")
			}
		}
	}
	gw1 := startDaemon(t, "gw1", l.GW1, cfgs[0])
	gw1.waitFor(0, 20*time.Second, "role", "to=active")
	gw2 := startDaemon(t, "gw2", l.GW2, cfgs[1])
	gw2.waitFor(0, 20*time.Second, "role", "to=backup")
	time.Sleep(500 * time.Millisecond)

	mark := gw2.lines()
	if out, err := lab.Command(l.GW2, "ip", "link", "set", lab.IfSync, "down").CombinedOutput(); err != nil {
		t.Fatalf("sync link down: %v %s", err, out)
	}
	time.Sleep(time.Second)
	after := strings.Join(gw2.logFrom(mark), "\n")
	claimed = strings.Contains(after, "to=active")
	if !claimed && hasAddr(t, l.GW2, lab.IfInside, lab.InsideVIP) {
		t.Error("gw2 holds the inside VIP without having logged a takeover")
	}
	if !hasAddr(t, l.GW1, lab.IfInside, lab.InsideVIP) && !claimed {
		t.Error("gw1 lost the inside VIP")
	}
	if dataLinks && !strings.Contains(after, "sync link down") {
		t.Errorf("gw2 did not report the sync link down:\n%s", after)
	}
	// The link returns: one active member again, gw1 (higher priority).
	mark = gw2.lines()
	if out, err := lab.Command(l.GW2, "ip", "link", "set", lab.IfSync, "up").CombinedOutput(); err != nil {
		t.Fatalf("sync link up: %v %s", err, out)
	}
	if claimed {
		gw2.waitFor(mark, 10*time.Second, "role", "to=backup")
	}
	time.Sleep(300 * time.Millisecond)
	if hasAddr(t, l.GW2, lab.IfInside, lab.InsideVIP) || !hasAddr(t, l.GW1, lab.IfInside, lab.InsideVIP) {
		t.Error("after the sync link returned, the inside VIP is not on gw1 alone")
	}
	return claimed
}

// TestSyncLinkFailureIsNotAFailover: with the sync link down, the backup
// still hears the active on the data links and keeps its role: one member
// holds the addresses.
func TestSyncLinkFailureIsNotAFailover(t *testing.T) {
	if splitBrain(t, true) {
		t.Fatal("gw2 took the active role while gw1 was alive, only the sync link down (split brain)")
	}
}

// TestSyncLinkFailureWithoutDataLinksIsSplitBrain is the control: without
// peers.data_addresses the same failure makes the backup claim the
// addresses, so the test above can fail; when the link returns, the
// lower-ranked member gives them back.
func TestSyncLinkFailureWithoutDataLinksIsSplitBrain(t *testing.T) {
	if !splitBrain(t, false) {
		t.Fatal("without data-link heartbeats gw2 did not take over: the split-brain test cannot tell")
	}
}
