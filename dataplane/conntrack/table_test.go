package conntrack

import (
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func TestLayout(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s != 128 {
		t.Errorf("entry is %d bytes, want 128", s)
	}
	if s := unsafe.Sizeof(Record{}); s != RecordSize {
		t.Errorf("Record is %d bytes, want %d", s, RecordSize)
	}
	if s := unsafe.Sizeof(Key{}); s != 40 {
		t.Errorf("Key is %d bytes, want 40", s)
	}
}

func TestMakeKeyV4Mapped(t *testing.T) {
	mapped := [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: 0, 14: 0, 15: 1}
	a := MakeKey(FamilyIPv4, ProtoTCP, mapped, ip4(10, 0, 0, 2), 1, 2)
	b := MakeKey(FamilyIPv4, ProtoTCP, ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 1, 2)
	if a != b {
		t.Fatalf("v4-mapped key %v != %v", a, b)
	}
}

func TestLookupBothDirections(t *testing.T) {
	tb, _, _ := testTable(t, Config{})
	k := tcpKey(ip4(10, 0, 0, 1), 1234, ip4(192, 0, 2, 1), 80)
	if _, err := tb.Insert(k, StateEstablished); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Insert(k.Reverse(), StateEstablished); !errors.Is(err, ErrExists) {
		t.Fatalf("insert of the reverse key: %v, want ErrExists", err)
	}
	if _, d, ok := tb.Lookup(k); !ok || d != DirOriginal {
		t.Fatalf("Lookup(orig) = %v %v", d, ok)
	}
	if _, d, ok := tb.Lookup(k.Reverse()); !ok || d != DirReply {
		t.Fatalf("Lookup(reply) = %v %v", d, ok)
	}
	other := k
	other.SrcPort++
	if _, _, ok := tb.Lookup(other); ok {
		t.Fatal("lookup of another key hit")
	}
	if !tb.Delete(k.Reverse()) {
		t.Fatal("delete by reply key failed")
	}
	if _, _, ok := tb.Lookup(k); ok || tb.Len() != 0 {
		t.Fatalf("entry survived delete; len %d", tb.Len())
	}
}

func TestLookupBatchMatchesLookup(t *testing.T) {
	tb, _, _ := testTable(t, Config{
		SNAT: []SNATPool{{Addrs: []netip.Addr{addr("203.0.113.7")}, PortMin: 1024, PortMax: 65535}},
	})
	var keys []Key
	for i := 0; i < 100; i++ {
		k := udpKey(ip4(10, 0, 0, byte(i)), 1000, ip4(10, 9, 9, 9), 53)
		nat := NATRequest{}
		if i%2 == 0 {
			nat = snat0
		}
		r := tb.Track(k, Segment{}, nat)
		keys = append(keys, k, k.Reverse())
		if r.Rewrite.Op == RewriteSrc {
			keys = append(keys, udpKey(ip4(10, 9, 9, 9), 53, r.Rewrite.Addr, r.Rewrite.Port))
		}
		if i%10 == 0 {
			keys = append(keys, udpKey(ip4(10, 1, 0, byte(i)), 1, ip4(10, 9, 9, 9), 53)) // absent
		}
	}
	hits := make([]Hit, len(keys))
	tb.Prefetch(keys)
	n := tb.LookupBatch(keys, hits)
	want := 0
	for i, k := range keys {
		ref, d, ok := tb.Lookup(k)
		if ok {
			want++
		}
		if hits[i] != (Hit{ref, d, ok}) {
			t.Fatalf("key %d: batch %+v, single %v %v %v", i, hits[i], ref, d, ok)
		}
	}
	if n != want {
		t.Fatalf("LookupBatch counted %d hits, want %d", n, want)
	}
}

func TestIPv6(t *testing.T) {
	tb, _, _ := testTable(t, Config{})
	src, dst := addr("2001:db8::1").As16(), addr("2001:db8::2").As16()
	k := MakeKey(FamilyIPv6, ProtoUDP, src, dst, 5353, 53)
	if r := tb.Track(k, Segment{}, NATRequest{}); r.Verdict != Accept || !r.New {
		t.Fatalf("%+v", r)
	}
	if r := tb.Track(k.Reverse(), Segment{}, NATRequest{}); r.Dir != DirReply || r.State != StateUDPReplied {
		t.Fatalf("%+v", r)
	}
}

func TestTableFullDropNew(t *testing.T) {
	tb, _, _ := testTable(t, Config{MaxEntries: 100, Shards: 4, WhenFull: FullDropNew})
	for i := 0; i < 100; i++ {
		if _, err := tb.Insert(udpKey(ip4(10, 0, 0, 1), uint16(1000+i), ip4(10, 9, 9, 9), 53), StateUDPUnreplied); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	_, err := tb.Insert(udpKey(ip4(10, 0, 0, 2), 1, ip4(10, 9, 9, 9), 53), StateUDPUnreplied)
	if !errors.Is(err, ErrTableFull) {
		t.Fatalf("insert into a full table: %v, want ErrTableFull", err)
	}
	r := tb.Track(udpKey(ip4(10, 0, 0, 3), 1, ip4(10, 9, 9, 9), 53), Segment{}, NATRequest{})
	if r.Verdict != DropFull {
		t.Fatalf("Track into a full table: %v", r.Verdict)
	}
	if s := tb.Stats(); s.DropFull != 2 || s.Live != 100 || s.Evicted != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Freeing one makes room for exactly one.
	tb.Delete(udpKey(ip4(10, 0, 0, 1), 1000, ip4(10, 9, 9, 9), 53))
	if _, err := tb.Insert(udpKey(ip4(10, 0, 0, 2), 1, ip4(10, 9, 9, 9), 53), StateUDPUnreplied); err != nil {
		t.Fatal(err)
	}
}

func TestTableFullEvictEmbryonic(t *testing.T) {
	tb, clk, _ := testTable(t, Config{MaxEntries: 64, Shards: 2, EvictScan: 64})
	server := ip4(10, 9, 9, 9)
	// 63 established connections and one half-open, the oldest.
	half := tcpKey(ip4(10, 0, 0, 1), 999, server, 80)
	if r := tb.Track(half, Segment{Flags: FlagSYN, WScale: NoWScale, Window: 100}, NATRequest{}); r.Verdict != Accept {
		t.Fatal(r.Verdict)
	}
	clk.Advance(time.Second)
	for i := 0; i < 63; i++ {
		if _, err := tb.Insert(tcpKey(ip4(10, 0, 1, byte(i)), 1000, server, 80), StateEstablished); err != nil {
			t.Fatal(err)
		}
	}
	// Mark the established ones assured, as traffic would.
	assureAll := func() {
		for i := range tb.entries {
			e := &tb.entries[i]
			if m := e.meta.Load(); metaState(m) == StateEstablished {
				e.meta.Store(m | fAssured)
			}
		}
	}
	assureAll()
	nk := tcpKey(ip4(10, 0, 0, 2), 5, server, 80)
	if r := tb.Track(nk, Segment{Flags: FlagSYN, WScale: NoWScale, Window: 100}, NATRequest{}); r.Verdict != Accept {
		t.Fatalf("new SYN into a full table: %v", r.Verdict)
	}
	if _, _, ok := tb.Lookup(half); ok {
		t.Fatal("the half-open connection was not evicted")
	}
	if s := tb.Stats(); s.Evicted != 1 || s.Live != 64 {
		t.Fatalf("stats %+v", s)
	}
	// The young embryonic one goes next; once every entry is an assured
	// connection nothing is evictable and the new one is dropped.
	tb.Track(tcpKey(ip4(10, 0, 0, 3), 5, server, 80), Segment{Flags: FlagSYN, WScale: NoWScale}, NATRequest{})
	if _, _, ok := tb.Lookup(nk); ok {
		t.Fatal("second eviction did not take the embryonic entry")
	}
	for i := range tb.entries {
		e := &tb.entries[i]
		if m := e.meta.Load(); e.gen.Load()&1 == 1 {
			e.meta.Store(withState(m, StateEstablished) | fAssured)
		}
	}
	r := tb.Track(tcpKey(ip4(10, 0, 0, 4), 5, server, 80), Segment{Flags: FlagSYN, WScale: NoWScale}, NATRequest{})
	if r.Verdict != DropFull {
		t.Fatalf("no victim left: %v", r.Verdict)
	}
	if s := tb.Stats(); s.Evicted != 2 || s.DropFull != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAgingManualClock(t *testing.T) {
	to := DefaultTimeouts()
	tb, clk, rr := testTable(t, Config{})
	udp := udpKey(ip4(10, 0, 0, 1), 1000, ip4(10, 9, 9, 9), 53)
	tcp := tcpKey(ip4(10, 0, 0, 1), 1000, ip4(10, 9, 9, 9), 80)
	tb.Track(udp, Segment{}, NATRequest{})
	tb.Insert(tcp, StateEstablished)
	drain(rr)
	clk.Advance(to.UDP - time.Second)
	if n := tb.Sweep(tb.Cap()); n != 0 {
		t.Fatalf("swept %d before the timeout", n)
	}
	clk.Advance(2 * time.Second)
	if n := tb.Sweep(tb.Cap()); n != 1 {
		t.Fatalf("swept %d, want the UDP entry", n)
	}
	if _, _, ok := tb.Lookup(udp); ok {
		t.Fatal("UDP entry survived")
	}
	recs := drain(rr)
	if len(recs) != 1 || recs[0].Op != OpDelete || recs[0].Key != udp {
		t.Fatalf("records %+v", recs)
	}
	// An expired entry that the hand has not reached yet is not used: the
	// next packet starts a new connection.
	clk.Advance(to.Established)
	r := tb.Track(tcp, Segment{Flags: FlagACK, WScale: NoWScale}, NATRequest{})
	if r.Verdict != DropNoPickup {
		t.Fatalf("packet of an expired connection: %v", r.Verdict)
	}
	if s := tb.Stats(); s.Expired != 2 || s.Live != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestUDPTimeouts(t *testing.T) {
	to := DefaultTimeouts()
	tb, clk, _ := testTable(t, Config{})
	k := udpKey(ip4(10, 0, 0, 1), 1000, ip4(10, 9, 9, 9), 53)
	tb.Track(k, Segment{}, NATRequest{})
	tb.Track(k.Reverse(), Segment{}, NATRequest{})
	clk.Advance(to.UDP + time.Second)
	tb.Sweep(tb.Cap())
	rec, ok := tb.Get(k)
	if !ok || rec.State != StateUDPReplied {
		t.Fatalf("replied UDP aged like unreplied: %+v %v", rec, ok)
	}
	clk.Advance(to.UDPStream)
	tb.Sweep(tb.Cap())
	if _, ok := tb.Get(k); ok {
		t.Fatal("stream UDP survived its timeout")
	}
}

func TestICMP(t *testing.T) {
	tb, _, _ := testTable(t, Config{})
	req := MakeICMPKey(FamilyIPv4, ProtoICMP, ip4(10, 0, 0, 1), ip4(10, 9, 9, 9), 77, false)
	rep := MakeICMPKey(FamilyIPv4, ProtoICMP, ip4(10, 9, 9, 9), ip4(10, 0, 0, 1), 77, true)
	if r := tb.Track(req, Segment{}, NATRequest{}); !r.New || r.State != StateICMP {
		t.Fatalf("%+v", r)
	}
	if r := tb.Track(rep, Segment{}, NATRequest{}); r.New || r.Dir != DirReply {
		t.Fatalf("%+v", r)
	}
}

func TestRangeFromCoversTable(t *testing.T) {
	tb, _, _ := testTable(t, Config{MaxEntries: 500})
	for i := 0; i < 300; i++ {
		if _, err := tb.Insert(udpKey(ip4(10, 0, 1, byte(i)), uint16(i), ip4(10, 9, 9, 9), 53), StateUDPUnreplied); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	seen := map[Key]bool{}
	var cur uint32
	for {
		next, done := tb.RangeFrom(cur, 64, func(r Record) bool {
			seen[r.Key] = true
			return true
		})
		if done {
			break
		}
		cur = next
	}
	if len(seen) != 300 {
		t.Fatalf("range saw %d entries, want 300", len(seen))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{},
		{MaxEntries: 10, Shards: 3},
		{MaxEntries: 10, SNAT: []SNATPool{{}}},
	} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
}

// TestFreeLanes: entries freed on any processor's lane are found by an
// insert on any other, and the table still holds exactly MaxEntries.
func TestFreeLanes(t *testing.T) {
	const n = 3 * freeLanes // a few entries per lane
	tb, _, _ := testTable(t, Config{MaxEntries: n, WhenFull: FullDropNew})
	key := func(round, i int) Key {
		return udpKey(ip4(10, byte(round), 0, byte(i)), 1000, ip4(10, 9, 9, 9), 53)
	}
	fill := func(round int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if _, err := tb.Insert(key(round, i), StateUDPUnreplied); err != nil {
				t.Fatalf("round %d insert %d: %v", round, i, err)
			}
		}
		if _, err := tb.Insert(key(round, n), StateUDPUnreplied); !errors.Is(err, ErrTableFull) {
			t.Fatalf("round %d: insert beyond MaxEntries: %v, want ErrTableFull", round, err)
		}
	}
	fill(0)
	for round := 1; round < 4; round++ {
		// Delete from several goroutines, so frees land on several lanes.
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < n; i += 4 {
					if !tb.Delete(key(round-1, i)) {
						t.Errorf("round %d delete %d failed", round, i)
					}
					runtime.Gosched()
				}
			}()
		}
		wg.Wait()
		if tb.Len() != 0 {
			t.Fatalf("round %d: %d live after deleting all", round, tb.Len())
		}
		fill(round)
	}
}
