package syncpath_test

import (
	"testing"
	"time"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/histogram"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
	"github.com/tandem-gw/tandem/syncpath/synctest"
)

var lossy = synctest.Link{
	Loss: 0.05, Duplicate: 0.05, Reorder: 0.05, Corrupt: 0.001,
	Delay: time.Millisecond, Jitter: time.Millisecond, ReorderDelay: 10 * time.Millisecond,
}

// replicate runs churn over a lossy link and reports whether the backup
// ends up with an exact copy of the active's table.
func replicate(t *testing.T, knobs syncpath.Knobs) (*rig, bool) {
	r := newRig(t, lossy, knobs)
	r.create(20000)
	for range 1000 { // one simulated second of churn
		r.churn(20, 15, 20)
		r.step()
	}
	ok := r.settle(5 * time.Second)
	return r, ok
}

// TestReplicationLossy: with 5% loss, duplication and reordering, 20K
// connections and churn replicate exactly (digest over all entries).
// Without retransmission (and its gap-timeout fallback) they do not.
func TestReplicationLossy(t *testing.T) {
	r, ok := replicate(t, syncpath.Knobs{})
	r.mustConverge(ok, "lossy link")
	c := r.active.sess.Counters()
	nc := r.net.Counters()
	if c.Retransmits == 0 || nc.Dropped == 0 || nc.Duplicated == 0 || nc.Reordered == 0 {
		t.Fatalf("the link was not lossy enough to prove anything: %+v, %+v", c, nc)
	}
	var lag histogram.Histogram
	r.active.sess.LagSnapshot(&lag)
	t.Logf("sent %d frames, %d records, %d retransmits, %d coalesced; lag p50 %v p99 %v max %v",
		c.FramesSent, c.RecordsSent, c.Retransmits, c.Coalesced,
		time.Duration(lag.Quantile(0.5)), time.Duration(lag.Quantile(0.99)), time.Duration(lag.Max()))
	t.Run("without retransmission it fails", func(t *testing.T) {
		r, ok := replicate(t, syncpath.Knobs{NoRetransmit: true})
		if ok {
			r.report()
			t.Fatal("converged without retransmission: the test does not guard it")
		}
	})
}

// forged builds a DELTA frame from the active to the backup that nobody
// holding the key sealed: plaintext body, a tag of zeros.
func forged(dataSeq, seq uint64, rec *conntrack.Record) []byte {
	h := ccp.Header{
		Version: ccp.Version, Op: ccp.OpDelta, KeyID: 1, Cluster: testCluster,
		Sender: activeID, Target: backupID, Count: 1, Epoch: 1000, Seq: seq, DataSeq: dataSeq,
	}
	body, _ := ccp.AppendRecord(nil, rec, 0)
	h.Length = uint16(len(body))
	b := ccp.AppendHeader(nil, &h)
	b = append(b, body...)
	return append(b, make([]byte, ccp.TagSize)...)
}

func injectForged(t *testing.T, knobs syncpath.Knobs) (applied bool, r *rig) {
	r = newRig(t, synctest.Link{}, knobs)
	r.create(100)
	r.mustConverge(r.settle(5*time.Second), "initial sync")
	var k conntrack.Key
	k.Family, k.Proto, k.SrcPort, k.DstPort = conntrack.FamilyIPv4, conntrack.ProtoTCP, 4444, 22
	copy(k.Src[:], []byte{203, 0, 113, 66})
	copy(k.Dst[:], []byte{10, 0, 0, 1})
	k = conntrack.MakeKey(k.Family, k.Proto, k.Src, k.Dst, k.SrcPort, k.DstPort)
	rec := conntrack.Record{Key: k, Op: conntrack.OpNew, State: conntrack.StateEstablished, Owner: activeID, Version: 1 << 62, Timeout: 3600000}
	cum, _ := syncpath.StreamState(r.backup.sess)
	attacker := r.net.Transport(66)
	if err := attacker.Send(backupID, forged(cum+1, 1<<40, &rec)); err != nil {
		t.Fatal(err)
	}
	r.step()
	_, applied = r.backup.table.Get(k)
	return applied, r
}

// TestForgedFrameRejected: a frame not sealed with the cluster key is
// rejected and counted; with authentication off, it would have injected a
// connection.
func TestForgedFrameRejected(t *testing.T) {
	applied, r := injectForged(t, syncpath.Knobs{})
	if applied {
		t.Fatal("forged record applied")
	}
	if c := r.backup.sess.Counters(); c.Rejected.Auth != 1 {
		t.Fatalf("Rejected.Auth = %d, want 1 (%+v)", c.Rejected.Auth, c.Rejected)
	}
	t.Run("without authentication it fails", func(t *testing.T) {
		if applied, _ := injectForged(t, syncpath.Knobs{NoAuth: true}); !applied {
			t.Fatal("forged record not applied without authentication: the test does not guard it")
		}
	})
}

// restart syncs 20K connections, restarts the backup in the middle of the
// churn and keeps changing the table while the snapshot streams.
func restart(t *testing.T, knobs syncpath.Knobs) (*rig, bool) {
	r := newRig(t, lossy, knobs)
	r.create(20000)
	for range 300 {
		r.churn(20, 15, 20)
		r.step()
	}
	r.restartBackup(2001)
	started := r.active.sess.Counters().FullSyncsStarted
	churnDuring := 0
	for range 1000 {
		r.churn(20, 15, 20)
		r.step()
		if c := r.active.sess.Counters(); c.FullSyncsStarted > started && c.FullSyncsSent < c.FullSyncsStarted {
			churnDuring++
		}
	}
	ok := r.settle(5 * time.Second)
	if ok && churnDuring == 0 {
		t.Fatal("the table did not change while the snapshot streamed")
	}
	t.Logf("%d churn ticks during the snapshot", churnDuring)
	return r, ok
}

// TestBackupRestartFullSync: a backup restarted mid-stream converges
// through a full sync while the active keeps changing its table. Without
// full sync it never gets the connections made before its restart.
func TestBackupRestartFullSync(t *testing.T) {
	r, ok := restart(t, syncpath.Knobs{})
	r.mustConverge(ok, "restarted backup")
	c := r.active.sess.Counters()
	if c.FullSyncsSent < 2 || r.backup.sess.Counters().FullSyncsReceived < 1 {
		t.Fatalf("no full sync after the restart: %+v", c)
	}
	t.Logf("full sync to the restarted backup took %v (simulated)", time.Duration(c.FullSyncNanos))
	t.Run("without full sync it fails", func(t *testing.T) {
		r, ok := restart(t, syncpath.Knobs{NoFullSync: true})
		if ok {
			r.report()
			t.Fatal("converged without full sync: the test does not guard it")
		}
	})
}

// TestDelayedNotifications: a connection younger than the delay is not
// sent; one that ends before then costs nothing; the rest arrive once old
// enough, and the tables agree.
func TestDelayedNotifications(t *testing.T) {
	sent, suppressed := delayed(t, 3*time.Second)
	if suppressed != 400 || sent != 600 {
		t.Fatalf("suppressed %d, sent %d records; want 400 and 600", suppressed, sent)
	}
	t.Run("without the delay it fails", func(t *testing.T) {
		if sent, suppressed := delayed(t, -1); suppressed == 400 || sent == 600 {
			t.Fatal("short-lived connections cost nothing without a delay: the test does not guard it")
		}
	})
}

func delayed(t *testing.T, delay time.Duration) (sent, suppressed uint64) {
	r := newRig(t, synctest.Link{Delay: time.Millisecond}, syncpath.Knobs{})
	r.delay = delay
	r.active = r.newMemberOn(activeID, backupID, 1000, true, r.net.Transport(activeID))
	r.backup = r.newMemberOn(backupID, activeID, 2000, false, r.net.Transport(backupID))
	r.create(1000)
	for range 1000 {
		r.step()
	}
	if c := r.active.sess.Counters(); delay > 0 && (c.RecordsSent != 0 || c.QueueDepth != 1000) {
		t.Fatalf("after 1s: %d records sent, %d waiting; want 0 and 1000", c.RecordsSent, c.QueueDepth)
	}
	r.churn(0, 400, 0) // 400 end young
	r.mustConverge(r.settle(5*time.Second), "delayed notifications")
	c := r.active.sess.Counters()
	return c.RecordsSent, c.Suppressed
}

// TestBandwidthLimit: data frames keep to the limit, which can be changed
// while running; without it the same load goes out at once.
func TestBandwidthLimit(t *testing.T) {
	run := func(limit int64) (*rig, uint64) {
		r := newRig(t, synctest.Link{Delay: time.Millisecond}, syncpath.Knobs{})
		r.mustConverge(r.settle(time.Second), "empty tables")
		r.active.sess.SetBandwidth(limit)
		before := r.active.sess.Counters().BytesSent
		r.create(20000) // about 700 KB of records
		for range 200 {
			r.step()
		}
		return r, r.active.sess.Counters().BytesSent - before
	}
	r, sent := run(1e6) // 1 MB/s for 0.2s: 200 KB, plus a 20 KB burst and heartbeats
	t.Logf("%d bytes in 0.2s at 1 MB/s", sent)
	if sent > 230e3 || r.active.sess.Counters().BandwidthStalls == 0 {
		t.Fatalf("sent %d bytes in 0.2s at 1 MB/s", sent)
	}
	r.active.sess.SetBandwidth(0)
	r.mustConverge(r.settle(2*time.Second), "limit lifted")
	t.Run("without the limit it fails", func(t *testing.T) {
		if _, sent := run(0); sent <= 230e3 {
			t.Fatalf("sent only %d bytes without a limit: the test does not guard it", sent)
		}
	})
}

// overflow deletes more connections at once than the sink's ring holds:
// the lost deletes can only be repaired by a full sync whose end removes
// what the snapshot no longer has.
func overflow(t *testing.T, knobs syncpath.Knobs) (*rig, bool) {
	r := newRig(t, lossy, knobs)
	r.ring = 1 << 12
	r.active = r.newMemberOn(activeID, backupID, 1000, true, r.net.Transport(activeID))
	r.backup = r.newMemberOn(backupID, activeID, 2000, false, r.net.Transport(backupID))
	for range 8 {
		r.create(1000)
		for range 20 {
			r.step()
		}
	}
	r.mustConverge(r.settle(5*time.Second), "before the overflow")
	r.churn(0, 6000, 0)
	if _, dels := r.active.sink.Overflow(); dels == 0 {
		t.Fatal("no delete lost to the full ring")
	}
	return r, r.settle(5 * time.Second)
}

// TestSinkOverflowFullSync: deletes lost to a full ring trigger a full
// sync, after which the backup drops the connections the active no longer
// has. Without that sweep the backup keeps them.
func TestSinkOverflowFullSync(t *testing.T) {
	r, ok := overflow(t, syncpath.Knobs{})
	r.mustConverge(ok, "after lost deletes")
	if c := r.backup.sess.Counters(); c.StaleRemoved == 0 {
		t.Fatalf("no stale entry removed: %+v", c)
	}
	t.Run("without the sweep it fails", func(t *testing.T) {
		if r, ok := overflow(t, syncpath.Knobs{NoSweep: true}); ok {
			r.report()
			t.Fatal("converged without the sweep: the test does not guard it")
		}
	})
}

// TestStreamLostMidSnapshot: a backup that loses the stream while a
// snapshot is on its way (its gap timeout) drops that snapshot and asks
// for another (reason window); the active must start one, although a
// snapshot begun after the backup's restart is still in flight, or the
// backup waits forever for a first chunk.
func TestStreamLostMidSnapshot(t *testing.T) {
	r := newRig(t, synctest.Link{Delay: time.Millisecond}, syncpath.Knobs{})
	r.create(30000)
	r.mustConverge(r.settle(5*time.Second), "before the restart")
	r.restartBackup(2001)
	before := r.active.sess.Counters().FullSyncsStarted
	for i := 0; ; i++ {
		r.step()
		c := r.active.sess.Counters()
		if c.FullSyncsStarted > before && c.FullSyncsSent < c.FullSyncsStarted && r.backup.sess.Counters().RecordsReceived > 0 {
			break
		}
		if i > 1000 {
			t.Fatalf("no snapshot under way after the restart: %+v", c)
		}
	}
	started := r.active.sess.Counters().FullSyncsStarted
	syncpath.LoseStream(r.backup.sess)
	r.mustConverge(r.settle(5*time.Second), "after the backup lost the stream mid-snapshot")
	if c := r.active.sess.Counters(); c.FullSyncsStarted <= started {
		t.Fatalf("no new snapshot for the backup's request: %+v", c)
	}
}
