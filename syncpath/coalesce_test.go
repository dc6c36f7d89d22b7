package syncpath

import (
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

func rec(id byte, op conntrack.Op, version uint64) conntrack.Record {
	var src, dst [16]byte
	src[0], src[3], dst[0] = 10, id, 192
	k := conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoUDP, src, dst, 1000+uint16(id), 53)
	return conntrack.Record{Key: k, Op: op, Version: version, State: conntrack.StateUDPReplied, Owner: 1, Timeout: 30000}
}

// TestCoalesceOrder: updates of one connection leave as one record, the
// newest version; new and delete records leave before refreshes.
func TestCoalesceOrder(t *testing.T) {
	c := newCoalescer(16)
	in := []conntrack.Record{
		rec(1, conntrack.OpUpdate, 10),
		rec(2, conntrack.OpUpdate, 20),
		rec(1, conntrack.OpUpdate, 12),
		rec(3, conntrack.OpNew, 30),
		rec(1, conntrack.OpUpdate, 11), // older than 12: loses
		rec(4, conntrack.OpDelete, 40),
		rec(2, conntrack.OpUpdate, 21),
	}
	merged := 0
	for i := range in {
		if c.add(&in[i], 0, true) {
			merged++
		}
	}
	if merged != 3 || c.len() != 4 {
		t.Fatalf("merged %d, waiting %d; want 3 and 4", merged, c.len())
	}
	var got []uint64
	for p := c.peek(); p != nil; p = c.peek() {
		got = append(got, p.rec.Version)
		c.take(p)
	}
	want := []uint64{30, 40, 12, 21}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	t.Run("without coalescing it fails", func(t *testing.T) {
		c := newCoalescer(16)
		for i := range in {
			c.add(&in[i], 0, false)
		}
		if c.len() == 4 {
			t.Fatal("4 records waiting without coalescing: the test does not guard it")
		}
	})
	// Records added between takes are not lost behind the passes.
	a, b := rec(5, conntrack.OpUpdate, 50), rec(6, conntrack.OpNew, 60)
	c.add(&a, 0, true)
	p := c.peek()
	c.take(p)
	c.add(&b, 0, true)
	if p = c.peek(); p == nil || p.rec.Version != 60 {
		t.Fatalf("record added after a take: got %v", p)
	}
}

// discard is a Transport that drops what it is given.
type discard struct{}

func (discard) Send(uint8, []byte) error             { return nil }
func (discard) Receive([][]byte, []int) (int, error) { return 0, nil }
func (discard) Close() error                         { return nil }

// TestPackAllocs: coalescing records and packing, sealing and sending
// DELTA frames allocates nothing after warm-up.
func TestPackAllocs(t *testing.T) {
	keys := ccp.NewKeyring()
	if err := keys.Add(1, ccp.AlgAES256GCM, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	tb, err := conntrack.New(conntrack.Config{MaxEntries: 1024, Self: 1, Clock: clock.NewManual(0)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Cluster: 1, Self: 1, Peer: 2, Epoch: 1, Keys: keys, Transport: discard{}, Table: tb, Clock: clock.NewManual(0)})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]conntrack.Record, 200)
	for i := range recs {
		recs[i] = rec(byte(i), conntrack.Op(1+i%3), uint64(1000+i))
	}
	step := func() {
		for i := range recs {
			s.co.add(&recs[i], 1, true)
			recs[i].Version += 1000
		}
		s.flushDeltas(1)
		s.handleCumAck(s.next-1, 2) // the peer acks everything
	}
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%v allocations per coalesce+pack of %d records", n, len(recs))
	}
	if s.next < 100 {
		t.Fatalf("only %d frames sent", s.next-1)
	}
}
