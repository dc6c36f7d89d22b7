package conntrack

import (
	"net/netip"
	"testing"
	"time"
)

func snatTable(t *testing.T, ports uint16, preserve bool) (*Table, *conntrackClock) {
	t.Helper()
	tb, clk, _ := testTable(t, Config{
		MaxEntries:   4096,
		NATMaxProbes: 4096,
		SNAT: []SNATPool{{
			Addrs:        []netip.Addr{addr("203.0.113.7")},
			PortMin:      20000,
			PortMax:      20000 + ports - 1,
			PreservePort: preserve,
		}},
	})
	return tb, &conntrackClock{clk.Advance}
}

type conntrackClock struct{ advance func(time.Duration) int64 }

var snat0 = NATRequest{Kind: NATSource, Index: 0}

func TestSNATUniqueAndReleasedOnExpiry(t *testing.T) {
	const ports = 1000
	tb, clk := snatTable(t, ports, false)
	server := ip4(198, 51, 100, 1)
	used := map[uint16]Key{}
	for i := 0; i < ports; i++ {
		k := udpKey(ip4(10, 0, byte(i>>8), byte(i)), 5000, server, 53)
		r := tb.Track(k, Segment{}, snat0)
		if r.Verdict != Accept || r.Rewrite.Op != RewriteSrc {
			t.Fatalf("conn %d: %+v", i, r)
		}
		if r.Rewrite.Addr != ip4(203, 0, 113, 7) {
			t.Fatalf("translated to %v", r.Rewrite.Addr)
		}
		if prev, dup := used[r.Rewrite.Port]; dup {
			t.Fatalf("port %d given to %v and %v", r.Rewrite.Port, prev, k)
		}
		used[r.Rewrite.Port] = k
	}
	// Every reply finds its connection and is translated back.
	for port, k := range used {
		reply := udpKey(server, 53, ip4(203, 0, 113, 7), port)
		r := tb.Track(reply, Segment{}, NATRequest{})
		if r.Verdict != Accept || r.Dir != DirReply || r.Rewrite.Op != RewriteDst ||
			r.Rewrite.Addr != k.Src || r.Rewrite.Port != k.SrcPort {
			t.Fatalf("reply to port %d: %+v, want back to %v", port, r, k)
		}
	}
	// The pool is exhausted for this server.
	extra := udpKey(ip4(10, 1, 0, 0), 5000, server, 53)
	if r := tb.Track(extra, Segment{}, snat0); r.Verdict != DropNAT {
		t.Fatalf("exhausted pool: %v", r.Verdict)
	}
	if s := tb.Stats(); s.DropNAT != 1 {
		t.Fatalf("DropNAT %d", s.DropNAT)
	}
	// The same pool serves another server: uniqueness is per reply tuple.
	if r := tb.Track(udpKey(ip4(10, 1, 0, 0), 5000, ip4(198, 51, 100, 2), 53), Segment{}, snat0); r.Verdict != Accept {
		t.Fatalf("other server: %v", r.Verdict)
	}
	// Expiry releases the mappings.
	clk.advance(DefaultTimeouts().UDPStream + time.Second)
	if n := tb.Sweep(tb.Cap()); n != ports+1 {
		t.Fatalf("expired %d", n)
	}
	if r := tb.Track(extra, Segment{}, snat0); r.Verdict != Accept {
		t.Fatalf("after expiry: %v", r.Verdict)
	}
}

func TestSNATPortPreservation(t *testing.T) {
	server := ip4(198, 51, 100, 1)
	tb, _ := snatTable(t, 2000, false)
	same := 0
	for i := 0; i < 200; i++ {
		k := tcpKey(ip4(10, 0, 0, byte(i)), uint16(20000+i), server, 80)
		r := tb.Track(k, Segment{Flags: FlagSYN, WScale: NoWScale, Window: 100}, snat0)
		if r.Verdict != Accept {
			t.Fatal(r.Verdict)
		}
		if r.Rewrite.Port == k.SrcPort {
			same++
		}
	}
	if same > 5 {
		t.Fatalf("%d of 200 ports preserved without PreservePort", same)
	}
	tb, _ = snatTable(t, 2000, true)
	k := tcpKey(ip4(10, 0, 0, 1), 20500, server, 80)
	if r := tb.Track(k, Segment{Flags: FlagSYN, WScale: NoWScale}, snat0); r.Rewrite.Port != 20500 {
		t.Fatalf("PreservePort gave %d", r.Rewrite.Port)
	}
	// A second client with the same port gets another one.
	k2 := tcpKey(ip4(10, 0, 0, 2), 20500, server, 80)
	if r := tb.Track(k2, Segment{Flags: FlagSYN, WScale: NoWScale}, snat0); r.Verdict != Accept || r.Rewrite.Port == 20500 {
		t.Fatalf("collision not avoided: %+v", r)
	}
}

func TestDNATPortForward(t *testing.T) {
	tb, _, _ := testTable(t, Config{
		DNAT: []DNATRule{{
			Proto: ProtoTCP, Addr: addr("192.0.2.10"), Port: 80,
			To: []netip.Addr{addr("10.1.0.5"), addr("10.1.0.6")}, ToPortMin: 8080, ToPortMax: 8080,
		}},
	})
	client := ip4(198, 51, 100, 9)
	seen := map[[16]byte]int{}
	for i := 0; i < 64; i++ {
		k := tcpKey(client, uint16(30000+i), ip4(192, 0, 2, 10), 80)
		req, ok := tb.MatchDNAT(k)
		if !ok {
			t.Fatal("rule did not match")
		}
		r := tb.Track(k, Segment{Flags: FlagSYN, WScale: NoWScale, Window: 100}, req)
		if r.Verdict != Accept || r.Rewrite.Op != RewriteDst || r.Rewrite.Port != 8080 {
			t.Fatalf("%+v", r)
		}
		seen[r.Rewrite.Addr]++
		// The backend answers from its own address.
		back := tcpKey(r.Rewrite.Addr, 8080, client, k.SrcPort)
		rr := tb.Track(back, Segment{Flags: FlagSYN | FlagACK, WScale: NoWScale, Window: 100, Ack: 1}, NATRequest{})
		if rr.Verdict != Accept || rr.Dir != DirReply || rr.Rewrite.Op != RewriteSrc ||
			rr.Rewrite.Addr != ip4(192, 0, 2, 10) || rr.Rewrite.Port != 80 {
			t.Fatalf("reply: %+v", rr)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("targets used: %v", seen)
	}
	if _, ok := tb.MatchDNAT(tcpKey(client, 1, ip4(192, 0, 2, 10), 81)); ok {
		t.Fatal("rule matched another port")
	}
}
