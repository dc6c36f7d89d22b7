package conntrack

import (
	"net/netip"
	"testing"
)

func TestTrackKnownCreatesNothing(t *testing.T) {
	tb, _, _ := testTable(t, Config{})
	var a, b [16]byte
	copy(a[:4], []byte{10, 0, 0, 1})
	copy(b[:4], []byte{10, 0, 0, 2})
	k := udpKey(a, 5000, b, 53)
	if _, ok := tb.TrackKnown(k, Segment{}); ok || tb.Len() != 0 {
		t.Fatalf("TrackKnown of an unknown key: ok %v, table holds %d", ok, tb.Len())
	}
	if res := tb.Track(k, Segment{}, NATRequest{}); res.Verdict != Accept || !res.New {
		t.Fatalf("Track: %+v", res)
	}
	// The reply finds the same connection, and moves it to replied.
	res, ok := tb.TrackKnown(k.Reverse(), Segment{})
	if !ok || res.Verdict != Accept || res.Dir != DirReply || res.State != StateUDPReplied || res.New {
		t.Fatalf("TrackKnown of the reply: %+v, %v", res, ok)
	}
	if tb.Len() != 1 {
		t.Fatalf("table holds %d, want 1", tb.Len())
	}
}

// BenchmarkTrackReply is the engine's per-packet call for reply traffic
// from the outside, 100K connections: Lookup to learn whether the
// connection is known, then Track (the engine before TrackKnown), against
// TrackKnown alone.
func BenchmarkTrackReply(b *testing.B) {
	const n = 100000
	tb, err := New(Config{MaxEntries: 2 * n})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]Key, n)
	for i := range keys {
		var a, c [16]byte
		copy(a[:4], []byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		copy(c[:4], []byte{192, 0, 2, 1})
		k := udpKey(a, 40000, c, 53)
		if res := tb.Track(k, Segment{}, NATRequest{}); res.Verdict != Accept {
			b.Fatal(res.Verdict)
		}
		keys[i] = k.Reverse()
	}
	if tb.Len() != n {
		b.Fatalf("table holds %d, want %d", tb.Len(), n)
	}
	b.Run("lookup+track", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			k := keys[i%n]
			if _, _, ok := tb.Lookup(k); ok {
				tb.Track(k, Segment{}, NATRequest{})
			}
		}
	})
	b.Run("trackknown", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			tb.TrackKnown(keys[i%n], Segment{})
		}
	})
}

// BenchmarkTrackReplySNAT is TrackKnown for reply traffic of 100K source-
// NATed connections: each reply finds its connection through the reply
// node, whose key the lookup rebuilds from the entry (matchReply).
func BenchmarkTrackReplySNAT(b *testing.B) {
	const n = 100000
	tb, err := New(Config{MaxEntries: 2 * n, SNAT: []SNATPool{{Addrs: []netip.Addr{
		addr("203.0.113.1"), addr("203.0.113.2"), addr("203.0.113.3"), addr("203.0.113.4")},
		PortMin: 1024, PortMax: 65535}}})
	if err != nil {
		b.Fatal(err)
	}
	server := ip4(192, 0, 2, 1)
	keys := make([]Key, n)
	for i := range keys {
		k := udpKey(ip4(10, byte(i>>16), byte(i>>8), byte(i)), 40000, server, 53)
		res := tb.Track(k, Segment{}, snat0)
		if res.Verdict != Accept || res.Rewrite.Op != RewriteSrc {
			b.Fatalf("conn %d: %+v", i, res)
		}
		keys[i] = udpKey(server, 53, res.Rewrite.Addr, res.Rewrite.Port)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, ok := tb.TrackKnown(keys[i%n], Segment{}); !ok || res.Dir != DirReply {
			b.Fatalf("reply %d: %+v %v", i%n, res, ok)
		}
	}
}
