package conntrack

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// entryState is what an entry holds, tombstones included, for comparing
// two tables whatever slots their entries sit in.
type entryState struct {
	key             kwords
	meta            uint64
	nat             [2]uint64
	version         uint64
	expires         int64
	origNode, reply bool // the nodes are linked
	replyKey        kwords
}

func tableState(t *testing.T, tb *Table) []entryState {
	t.Helper()
	var out []entryState
	for i := range tb.entries {
		e := &tb.entries[i]
		if e.gen.Load()&1 == 0 {
			continue
		}
		s := entryState{meta: e.meta.Load(), nat: [2]uint64{e.nat[0].Load(), e.nat[1].Load()},
			version: e.version.Load(), expires: e.expires.Load()}
		s.key.fromEntry(e)
		// Both nodes are reachable from their buckets.
		_, _, dir, ok := tb.find(&s.key, s.key.hash(tb.seed), false)
		s.origNode = ok && dir == DirOriginal
		if s.meta&fReplyNode != 0 {
			replyWords(&s.replyKey, &s.key, metaNAT(s.meta), s.nat, metaPort(s.meta))
			_, _, dir, ok := tb.find(&s.replyKey, s.replyKey.hash(tb.seed), false)
			s.reply = ok && dir == DirReply
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b entryState) int { return slices.Compare(a.key[:], b.key[:]) })
	return out
}

// applyTestRecords is a mix that exercises every outcome of Apply: an
// active table's records (NATed TCP in various states, UDP, deletes),
// shuffled and each sent twice (duplicates), older versions, owner
// changes, NAT changes, deletes of unknown connections, and records whose
// NAT reply tuple another connection holds (conflicts).
func applyTestRecords(t *testing.T) []Record {
	t.Helper()
	_, recs, _ := activeWithTraffic(t, 500)
	rng := rand.New(rand.NewPCG(7, 7))
	out := slices.Clone(recs)
	for i, r := range recs {
		switch i % 6 {
		case 0: // an older version, reordered
			r.Version--
			out = append(out, r)
		case 1: // the owner moved
			r.Version += 10
			r.Owner = 3
			out = append(out, r)
		case 2: // a delete of a connection the backup never saw
			r.Key.SrcPort ^= 0x5555
			r.Op, r.Timeout = OpDelete, 0
			out = append(out, r)
		case 3: // another connection claiming this one's NAT reply tuple
			if r.NAT != NATNone && r.Op != OpDelete {
				r.Key.SrcPort ^= 0x2222
				out = append(out, r)
			}
		case 4: // the NAT mapping changed
			if r.NAT != NATNone && r.Op != OpDelete {
				r.Version += 5
				r.NATPort ^= 0x100
				out = append(out, r)
			}
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	dup := slices.Clone(out)
	rng.Shuffle(len(dup), func(i, j int) { dup[i], dup[j] = dup[j], dup[i] })
	return append(out, dup...)
}

// TestApplyBatchMatchesApply checks that ApplyBatch gives every record the
// outcome Apply gives it and leaves the same table and counters, with
// batches of several sizes, into a roomy table and into one that fills up.
func TestApplyBatchMatchesApply(t *testing.T) {
	recs := applyTestRecords(t)
	for _, maxEntries := range []int{4096, 512} {
		one, _, _ := testTable(t, Config{Self: 2, MaxEntries: maxEntries})
		want := make([]ApplyResult, len(recs))
		var seen [4]int
		for i, r := range recs {
			want[i] = one.Apply(r)
			seen[want[i]]++
		}
		if maxEntries == 512 && seen[ApplyFull] == 0 || seen[Applied] == 0 || seen[ApplyStale] == 0 || seen[ApplyConflict] == 0 {
			t.Fatalf("max %d: the records do not exercise every outcome: %v", maxEntries, seen)
		}
		wantState, wantStats := tableState(t, one), one.Stats()
		for _, size := range []int{1, 7, applyStride, applyStride + 1, 350, len(recs)} {
			batch, _, brr := testTable(t, Config{Self: 2, MaxEntries: maxEntries})
			got := make([]ApplyResult, len(recs))
			for i := 0; i < len(recs); i += size {
				end := min(i+size, len(recs))
				batch.ApplyBatch(recs[i:end], got[i:end])
			}
			for i := range recs {
				if got[i] != want[i] {
					t.Fatalf("max %d, batches of %d: record %d (%v v%d): %v, Apply gave %v",
						maxEntries, size, i, recs[i].Op, recs[i].Version, got[i], want[i])
				}
			}
			if st := batch.Stats(); st != wantStats {
				t.Fatalf("max %d, batches of %d: stats %+v, Apply's %+v", maxEntries, size, st, wantStats)
			}
			if s := tableState(t, batch); !slices.EqualFunc(s, wantState, func(a, b entryState) bool { return a == b }) {
				t.Fatalf("max %d, batches of %d: the table differs from Apply's (%d entries, %d)", maxEntries, size, len(s), len(wantState))
			}
			if batch.vfloor.Load() != one.vfloor.Load() {
				t.Fatalf("version floor %d, Apply's %d", batch.vfloor.Load(), one.vfloor.Load())
			}
			if n := len(drain(brr)); n != 0 {
				t.Fatalf("ApplyBatch emitted %d records", n)
			}
		}
	}
	// An empty batch changes nothing.
	tb, _, _ := testTable(t, Config{Self: 2})
	tb.ApplyBatch(nil, nil)
	if st := tb.Stats(); st != (Stats{}) {
		t.Fatalf("empty batch: %+v", st)
	}
}

func TestApplyBatchAllocs(t *testing.T) {
	_, recs, _ := activeWithTraffic(t, 300)
	tb, _, _ := testTable(t, Config{Self: 2, MaxEntries: 4096})
	res := make([]ApplyResult, len(recs))
	tb.ApplyBatch(recs, res)
	// Each run brings newer versions, turning every connection into a
	// tombstone and back: updates, removals and inserts.
	run := 0
	allocs := testing.AllocsPerRun(20, func() {
		run++
		op := OpNew
		if run%2 == 1 {
			op = OpDelete
		}
		for i := range recs {
			recs[i].Version += 10
			recs[i].Op = op
		}
		tb.ApplyBatch(recs, res)
	})
	if allocs != 0 {
		t.Fatalf("ApplyBatch allocates %v times a batch", allocs)
	}
	if res[0] != Applied {
		t.Fatalf("the last run: %v", res[0])
	}
}
