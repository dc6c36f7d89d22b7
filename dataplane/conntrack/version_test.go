package conntrack

import "testing"

// A connection re-created under the same key before the clock moves (as a
// coarse clock allows) must outrank the delete record of the old one, or a
// backup holding the old one's tombstone would refuse it as stale.
func TestReincarnationOutranksTombstoneWithFrozenClock(t *testing.T) {
	tb, _, r := testTable(t, Config{}) // the manual clock is never advanced
	var a, b [16]byte
	copy(a[:4], []byte{10, 0, 0, 1})
	copy(b[:4], []byte{10, 0, 0, 2})
	k := MakeKey(FamilyIPv4, ProtoTCP, a, b, 40000, 443)
	steps := []struct {
		key Key
		seg Segment
	}{
		{k, Segment{Flags: FlagSYN, Seq: 100, Window: 1000, WScale: NoWScale}},
		{k.Reverse(), Segment{Flags: FlagSYN | FlagACK, Seq: 500, Ack: 101, Window: 1000, WScale: NoWScale}},
		{k, Segment{Flags: FlagACK, Seq: 101, Ack: 501, Window: 1000, WScale: NoWScale}},
	}
	for i, s := range steps {
		if res := tb.Track(s.key, s.seg, NATRequest{}); res.Verdict != Accept {
			t.Fatalf("step %d: %v", i, res.Verdict)
		}
	}
	if !tb.Delete(k) {
		t.Fatal("delete")
	}
	var tombstone uint64
	for _, rec := range drain(r) {
		if rec.Op == OpDelete {
			tombstone = rec.Version
		}
	}
	if tombstone == 0 {
		t.Fatal("no delete record")
	}
	if res := tb.Track(k, steps[0].seg, NATRequest{}); res.Verdict != Accept || !res.New {
		t.Fatalf("re-create: %+v", res)
	}
	rec, ok := tb.Get(k)
	if !ok {
		t.Fatal("re-created connection not found")
	}
	if rec.Version <= tombstone {
		t.Fatalf("new incarnation has version %d, not above the old one's delete record %d", rec.Version, tombstone)
	}
}
