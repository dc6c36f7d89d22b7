package syncpath_test

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
	"github.com/tandem-gw/tandem/syncpath/synctest"
)

const (
	testCluster = 7
	activeID    = 1
	backupID    = 2
	tick        = time.Millisecond
)

// testKeys is a ring holding the fixed test key (id 1, bytes 0..31).
func testKeys(testing.TB) *ccp.Keyring { return synctest.Keyring() }

type member struct {
	id    uint8
	table *conntrack.Table
	sink  *syncpath.Sink
	sess  *syncpath.Session
}

type rig struct {
	t      testing.TB
	clk    *clock.Manual
	net    *synctest.Network
	keys   *ccp.Keyring
	active *member
	backup *member
	rng    *rand.Rand
	live   []conntrack.Key // the active's connections
	nextID uint32
	knobs  syncpath.Knobs
	delay  time.Duration // Config.Delay of new members (the rig's default: off)
	ring   int           // sink capacity of new members
}

// netSeed seeds the test network: 42, or SYNCPATH_SEED to try others.
func netSeed() uint64 {
	if v, err := strconv.ParseUint(os.Getenv("SYNCPATH_SEED"), 10, 64); err == nil {
		return v
	}
	return 42
}

func newRig(t testing.TB, link synctest.Link, knobs syncpath.Knobs) *rig {
	clk := clock.NewManual(1e12)
	r := &rig{
		t: t, clk: clk, net: synctest.NewNetwork(clk, netSeed()), keys: testKeys(t),
		rng: rand.New(rand.NewPCG(1, 2)), knobs: knobs, delay: -1, ring: 1 << 16,
	}
	r.net.SetLinks(activeID, backupID, link)
	r.active = r.newMember(activeID, backupID, 1000, true)
	r.backup = r.newMember(backupID, activeID, 2000, false)
	return r
}

func (r *rig) newMember(id, peer uint8, epoch uint32, sink bool) *member {
	return r.newMemberOn(id, peer, epoch, sink, r.net.Transport(id))
}

func (r *rig) newMemberOn(id, peer uint8, epoch uint32, sink bool, tr syncpath.Transport) *member {
	m := &member{id: id}
	to := conntrack.DefaultTimeouts()
	to.UDP, to.UDPStream, to.Tombstone = time.Hour, time.Hour, time.Hour
	cfg := conntrack.Config{MaxEntries: 1 << 16, Self: id, Clock: r.clk, Timeouts: to, Seed: 99}
	if sink {
		s, err := syncpath.NewSink(r.ring)
		if err != nil {
			r.t.Fatal(err)
		}
		m.sink = s
		cfg.Records = s
	}
	tb, err := conntrack.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	m.table = tb
	sess, err := syncpath.New(syncpath.Config{
		Cluster: testCluster, Self: id, Peer: peer, Epoch: epoch,
		Keys: r.keys, Transport: tr, Table: tb, Sink: m.sink, Clock: r.clk, Delay: r.delay,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	syncpath.SetKnobs(sess, r.knobs)
	m.sess = sess
	return m
}

// restartBackup replaces the backup by a fresh member (empty table, new
// epoch, new transport queue).
func (r *rig) restartBackup(epoch uint32) {
	r.backup = r.newMember(backupID, activeID, epoch, false)
}

// step advances the clock one tick and polls both members.
func (r *rig) step() {
	r.clk.Advance(tick)
	for _, m := range []*member{r.active, r.backup} {
		if _, err := m.sess.Poll(); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rig) key(id uint32) conntrack.Key {
	var src, dst [16]byte
	src[0], src[1], src[2], src[3] = 10, byte(id>>16), byte(id>>8), byte(id)
	dst[0], dst[1], dst[2], dst[3] = 192, 0, 2, byte(id%7)
	return conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoUDP, src, dst, uint16(1024+id%60000), 53)
}

// create adds n UDP connections on the active.
func (r *rig) create(n int) {
	for range n {
		r.nextID++
		k := r.key(r.nextID)
		if res := r.active.table.Track(k, conntrack.Segment{}, conntrack.NATRequest{}); res.Verdict != conntrack.Accept {
			r.t.Fatalf("creating connection %d: %v", r.nextID, res.Verdict)
		}
		r.live = append(r.live, k)
	}
}

// churn deletes del random connections, answers upd random ones (a state
// change: an update record) and creates add new ones.
func (r *rig) churn(add, del, upd int) {
	for range del {
		if len(r.live) == 0 {
			break
		}
		i := r.rng.IntN(len(r.live))
		r.active.table.Delete(r.live[i])
		r.live[i] = r.live[len(r.live)-1]
		r.live = r.live[:len(r.live)-1]
	}
	for range upd {
		if len(r.live) == 0 {
			break
		}
		k := r.live[r.rng.IntN(len(r.live))]
		r.active.table.Track(k.Reverse(), conntrack.Segment{}, conntrack.NATRequest{})
	}
	r.create(add)
}

// settle polls until both sessions are idle and the tables agree, or
// limit of simulated time passes. It reports whether they agree.
func (r *rig) settle(limit time.Duration) bool {
	for end := r.clk.Now() + int64(limit); r.clk.Now() < end; {
		for range 50 {
			r.step()
		}
		if r.active.sess.Idle() && r.backup.sess.Synced() && r.backup.sess.Idle() && r.equal() {
			return true
		}
	}
	return false
}

// equal compares the tables by digest over their entries.
func (r *rig) equal() bool {
	a, an := r.active.table.Digest()
	b, bn := r.backup.table.Digest()
	return a == b && an == bn
}

// mustConverge fails the test, with the figures, unless ok.
func (r *rig) mustConverge(ok bool, what string) {
	r.t.Helper()
	if !ok {
		r.report()
		r.t.Fatalf("%s: the backup's table is not the active's", what)
	}
}

func (r *rig) report() {
	a, an := r.active.table.Digest()
	b, bn := r.backup.table.Digest()
	r.t.Logf("active digest %x (%d entries), backup %x (%d)", a, an, b, bn)
	r.t.Logf("active: %+v", r.active.sess.Counters())
	r.t.Logf("backup: %+v", r.backup.sess.Counters())
	r.t.Logf("network: %+v", r.net.Counters())
}
