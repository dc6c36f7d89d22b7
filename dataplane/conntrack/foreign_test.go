package conntrack

import "testing"

// foreignByWalk counts the live entries (tombstones included) another
// member owns, the slow way.
func foreignByWalk(tb *Table) int {
	n := 0
	for i := range tb.entries {
		e := &tb.entries[i]
		if e.gen.Load()&1 == 1 && metaOwner(e.meta.Load()) != tb.cfg.Self {
			n++
		}
	}
	return n
}

// TestForeignLen follows a backup's count of the peer's entries through
// inserts, updates that move the owner, promotion, deletes and its own
// connections, against a walk of the table.
func TestForeignLen(t *testing.T) {
	_, recs, _ := activeWithTraffic(t, 300)
	backup, _, _ := testTable(t, Config{Self: 2, MaxEntries: 4096})
	check := func(when string) {
		t.Helper()
		if got, want := backup.ForeignLen(), foreignByWalk(backup); got != want {
			t.Fatalf("%s: ForeignLen %d, the table holds %d", when, got, want)
		}
	}
	check("empty")
	for i := range 50 {
		k := udpKey(ip4(10, 7, 0, byte(i)), 5000, ip4(10, 9, 9, 53), 53)
		if r := backup.Track(k, Segment{}, NATRequest{}); r.Verdict != Accept {
			t.Fatal(r.Verdict)
		}
	}
	check("own connections only")
	for _, r := range recs {
		backup.Apply(r)
	}
	check("after the active's records")
	if backup.ForeignLen() == 0 {
		t.Fatal("the active's records left no foreign entry")
	}
	// An update that hands a connection to this member, and one that
	// hands it back.
	var live Record
	backup.Range(func(r Record) bool {
		if r.Owner == 1 {
			live = r
			return false
		}
		return true
	})
	before := backup.ForeignLen()
	live.Op, live.Owner, live.Version = OpUpdate, 2, live.Version+10
	if res := backup.Apply(live); res != Applied {
		t.Fatalf("owner move: %v", res)
	}
	check("after an update moved one to this member")
	if backup.ForeignLen() != before-1 {
		t.Fatalf("ForeignLen %d after the move, want %d", backup.ForeignLen(), before-1)
	}
	live.Owner, live.Version = 1, live.Version+10
	backup.Apply(live)
	check("after an update moved it back")
	if n := backup.PromoteOwner(1, 2); n == 0 {
		t.Fatal("nothing promoted")
	}
	check("after promotion")
	for i := range 20 {
		backup.Delete(udpKey(ip4(10, 7, 0, byte(i)), 5000, ip4(10, 9, 9, 53), 53))
	}
	check("after deleting own connections")
	backup.Range(func(r Record) bool {
		backup.Delete(r.Key)
		return true
	})
	check("after deleting everything")
}
