package conntrack

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/ring"
)

// activeWithTraffic builds an active table (member 1) with n NATed
// connections in various states and returns it with its records.
func activeWithTraffic(t *testing.T, n int) (*Table, []Record, *ring.MPSC[Record]) {
	t.Helper()
	tb, _, rr := testTable(t, Config{
		Self: 1, MaxEntries: 4096,
		SNAT: []SNATPool{{Addrs: []netip.Addr{addr("203.0.113.7")}, PortMin: 1024, PortMax: 65535}},
	})
	for i := 0; i < n; i++ {
		k := tcpKey(ip4(10, 0, byte(i>>8), byte(i)), 40000, ip4(10, 9, 9, 9), 443)
		r := tb.Track(k, Segment{Flags: FlagSYN, Seq: 1, Window: 100, WScale: NoWScale}, snat0)
		if r.Verdict != Accept {
			t.Fatal(r.Verdict)
		}
		if i%3 == 0 {
			continue
		}
		back := tcpKey(ip4(10, 9, 9, 9), 443, r.Rewrite.Addr, r.Rewrite.Port)
		tb.Track(back, Segment{Flags: FlagSYN | FlagACK, Seq: 100, Ack: 2, Window: 100, WScale: NoWScale}, NATRequest{})
		if i%3 == 1 {
			tb.Track(k, Segment{Flags: FlagACK, Seq: 2, Ack: 101, Window: 100, WScale: NoWScale}, NATRequest{})
		}
		if i%7 == 0 {
			tb.Delete(k)
		}
	}
	for i := 0; i < n; i += 2 {
		tb.Track(udpKey(ip4(10, 0, byte(i>>8), byte(i)), 53000, ip4(10, 9, 9, 53), 53), Segment{}, NATRequest{})
	}
	return tb, drain(rr), rr
}

func TestApplyConvergesAndIsIdempotent(t *testing.T) {
	active, recs, _ := activeWithTraffic(t, 500)
	backup, _, brr := testTable(t, Config{Self: 2, MaxEntries: 4096})
	for _, r := range recs {
		if res := backup.Apply(r); res != Applied {
			t.Fatalf("apply %v v%d: %v", r.Op, r.Version, res)
		}
	}
	want, wn := active.Digest()
	got, gn := backup.Digest()
	if want != got || wn != gn {
		t.Fatalf("digest active %x (%d) backup %x (%d)", want, wn, got, gn)
	}
	// Duplicates change nothing.
	for _, r := range recs {
		if res := backup.Apply(r); res != ApplyStale {
			t.Fatalf("duplicate %v: %v", r.Op, res)
		}
	}
	if got, _ := backup.Digest(); got != want {
		t.Fatal("duplicates changed the backup")
	}
	if n := len(drain(brr)); n != 0 {
		t.Fatalf("Apply emitted %d records", n)
	}
	// Applied entries belong to the active member.
	backup.Range(func(r Record) bool {
		if r.Owner != 1 {
			t.Fatalf("backup entry owned by %d", r.Owner)
		}
		return true
	})
}

func TestApplyAnyOrder(t *testing.T) {
	active, recs, _ := activeWithTraffic(t, 300)
	want, _ := active.Digest()
	for seed := uint64(1); seed <= 5; seed++ {
		backup, _, _ := testTable(t, Config{Self: 2, MaxEntries: 4096})
		shuf := append([]Record(nil), recs...)
		rng := rand.New(rand.NewPCG(seed, seed))
		rng.Shuffle(len(shuf), func(i, j int) { shuf[i], shuf[j] = shuf[j], shuf[i] })
		// Every record twice, in a random order.
		shuf = append(shuf, shuf...)
		for _, r := range shuf {
			backup.Apply(r)
		}
		if got, _ := backup.Digest(); got != want {
			t.Fatalf("seed %d: reordered apply diverged", seed)
		}
	}
}

func TestApplyVersionOrdering(t *testing.T) {
	backup, clk, _ := testTable(t, Config{Self: 2})
	k := tcpKey(ip4(10, 0, 0, 1), 1, ip4(10, 9, 9, 9), 80)
	rec := func(op Op, v uint64, st State) Record {
		return Record{Key: k, Op: op, Version: v, State: st, Owner: 1, Timeout: 60000}
	}
	if r := backup.Apply(rec(OpUpdate, 5, StateEstablished)); r != Applied {
		t.Fatal(r)
	}
	if r := backup.Apply(rec(OpUpdate, 4, StateSynRecv)); r != ApplyStale {
		t.Fatalf("older version: %v", r)
	}
	if got, _ := backup.Get(k); got.State != StateEstablished || got.Version != 5 {
		t.Fatalf("older version overwrote: %+v", got)
	}
	// A delete, then the New it followed arrives late: no resurrection.
	if r := backup.Apply(rec(OpDelete, 6, StateEstablished)); r != Applied {
		t.Fatal(r)
	}
	if r := backup.Apply(rec(OpNew, 1, StateSynSent)); r != ApplyStale {
		t.Fatalf("late new after delete: %v", r)
	}
	if _, ok := backup.Get(k); ok {
		t.Fatal("deleted connection resurrected")
	}
	// A delete that overtakes its connection leaves a tombstone too.
	k2 := k
	k2.SrcPort = 2
	backup.Apply(Record{Key: k2, Op: OpDelete, Version: 9, Owner: 1})
	if r := backup.Apply(Record{Key: k2, Op: OpNew, Version: 8, State: StateSynSent, Owner: 1, Timeout: 1000}); r != ApplyStale {
		t.Fatalf("new older than an early delete: %v", r)
	}
	// Tombstones expire; a new incarnation with a higher version is fine
	// before that.
	if r := backup.Apply(rec(OpNew, 7, StateSynSent)); r != Applied {
		t.Fatalf("new incarnation: %v", r)
	}
	clk.Advance(DefaultTimeouts().Tombstone + time.Second)
	backup.Sweep(backup.Cap())
	if n := backup.Len(); n != 0 {
		t.Fatalf("%d entries after expiry", n)
	}
}

func TestPromoteOwner(t *testing.T) {
	_, recs, _ := activeWithTraffic(t, 200)
	backup, _, brr := testTable(t, Config{Self: 2, MaxEntries: 4096})
	for _, r := range recs {
		backup.Apply(r)
	}
	_, live := backup.Digest()
	n := backup.PromoteOwner(1, 2)
	if n != live {
		t.Fatalf("promoted %d of %d", n, live)
	}
	out := drain(brr)
	if len(out) != n {
		t.Fatalf("%d records for %d promotions", len(out), n)
	}
	// A third member applying the promotion records ends up equal.
	third, _, _ := testTable(t, Config{Self: 3, MaxEntries: 4096})
	for _, r := range recs {
		third.Apply(r)
	}
	for _, r := range out {
		if r.Owner != 2 || r.Op != OpUpdate {
			t.Fatalf("promotion record %+v", r)
		}
		if res := third.Apply(r); res != Applied {
			t.Fatalf("promotion record not newer: %v", res)
		}
	}
	a, _ := backup.Digest()
	b, _ := third.Digest()
	if a != b {
		t.Fatal("third member diverged after promotion")
	}
	if backup.PromoteOwner(1, 2) != 0 {
		t.Fatal("second promotion found entries")
	}
	// New versions made by the promoted member outrank everything applied.
	k := tcpKey(ip4(10, 7, 7, 7), 1, ip4(10, 9, 9, 9), 80)
	backup.Insert(k, StateSynSent)
	r, _ := backup.Get(k)
	for _, old := range recs {
		if old.Version >= r.Version {
			t.Fatalf("new version %d not above applied %d", r.Version, old.Version)
		}
	}
}

func TestRingFullMarksDirty(t *testing.T) {
	small, err := ring.NewMPSC[Record](4)
	if err != nil {
		t.Fatal(err)
	}
	active, _, _ := testTable(t, Config{Self: 1, Records: small})
	backup, _, _ := testTable(t, Config{Self: 2})
	for i := 0; i < 10; i++ {
		active.Track(udpKey(ip4(10, 0, 0, byte(i)), 1, ip4(10, 9, 9, 9), 53), Segment{}, NATRequest{})
	}
	if s := active.Stats(); s.Records != 4 || s.RecordsLost != 6 {
		t.Fatalf("stats %+v", s)
	}
	for round := 0; round < 5; round++ {
		for _, r := range drain(small) {
			backup.Apply(r)
		}
		active.Sweep(active.Cap())
	}
	for _, r := range drain(small) {
		backup.Apply(r)
	}
	a, an := active.Digest()
	b, bn := backup.Digest()
	if a != b || an != 10 || bn != 10 {
		t.Fatalf("backup did not converge after the ring drained: %d vs %d", an, bn)
	}
}
