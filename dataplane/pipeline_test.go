package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/nexthop"
	"github.com/tandem-gw/tandem/dataplane/packet"
	"github.com/tandem-gw/tandem/internal/clock"
)

// pipelineWorker is a worker with no sockets: inside ifindex 2, outside
// ifindex 3, the server network on-link outside, SNAT to 192.0.2.100.
func pipelineWorker(tb testing.TB, entries int) *worker {
	tb.Helper()
	clk := clock.NewCoarse(time.Millisecond) // as tandemd runs it
	tb.Cleanup(clk.Close)
	table, err := conntrack.New(conntrack.Config{
		MaxEntries: entries, Self: 1, Clock: clk,
		SNAT: []conntrack.SNATPool{{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}, PortMin: 1024, PortMax: 65535}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	mirror := nexthop.Static(
		[]nexthop.StaticRoute{
			{Prefix: netip.MustParsePrefix("10.0.0.0/16"), Ifindex: 2},
			{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Ifindex: 3},
		},
		[]nexthop.StaticNeighbor{{Ifindex: 3, Addr: netip.MustParseAddr("198.51.100.7"), MAC: [6]byte{2, 0, 0, 0, 0, 7}}},
	)
	w := &worker{table: table, mirror: mirror, policy: &Policy{AllowFromInside: true, AllowRelated: true, SNAT: 0, SNAT6: -1}}
	w.sides[inside] = side{ifindex: 2, mac: [6]byte{2, 0, 0, 0, 1, 1}, countRx: CountRxInside}
	w.sides[outside] = side{ifindex: 3, mac: [6]byte{2, 0, 0, 0, 1, 2}, countRx: CountRxOutside}
	return w
}

// udpFrames builds 64-byte UDP frames from flows distinct inside clients
// to the server.
func udpFrames(tb testing.TB, flows int) [][]byte {
	frames := make([][]byte, flows)
	for i := range frames {
		buf := make([]byte, 2048)
		src := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		n := packet.Build(buf, &packet.Spec{
			DstMAC: [6]byte{2, 0, 0, 0, 1, 1}, SrcMAC: [6]byte{2, 0, 0, 0, 0, 1},
			Src: src.As16(), Dst: netip.MustParseAddr("198.51.100.7").As16(),
			// Destination ports spread so one SNAT address has ports for
			// every flow (64,512 per destination address and port).
			Proto: packet.ProtoUDP, SrcPort: uint16(1024 + i%60000), DstPort: uint16(53 + i/50000), PayloadLen: 22,
		})
		if n == 0 {
			tb.Fatal("building frame")
		}
		frames[i] = buf[:n]
	}
	return frames
}

func TestPipelineForwardsAndTranslates(t *testing.T) {
	w := pipelineWorker(t, 1024)
	frame := udpFrames(t, 1)[0]
	buf := make([]byte, 2048)
	copy(buf, frame)
	out, n := w.forward(inside, buf, len(frame))
	if out != outside || n != len(frame) {
		t.Fatalf("forward = %d, %d; want the outside side", out, n)
	}
	var p packet.Parsed
	if r := p.Decode(buf[:n]); r != packet.DropNone {
		t.Fatalf("forwarded frame does not decode: %v", r)
	}
	if netip.AddrFrom16(p.Src).Unmap() != netip.MustParseAddr("192.0.2.100") {
		t.Errorf("source %v, want the SNAT address", netip.AddrFrom16(p.Src).Unmap())
	}
	if p.TTL != 63 || p.DstMAC != [6]byte{2, 0, 0, 0, 0, 7} || p.SrcMAC != [6]byte{2, 0, 0, 0, 1, 2} {
		t.Errorf("TTL %d, MACs %v → %v", p.TTL, p.SrcMAC, p.DstMAC)
	}
	if !packet.ChecksumsValid(buf[:n], &p) {
		t.Error("checksums wrong after NAT")
	}
	if w.c[CountNATed] != 1 || w.c[CountNewConnections] != 1 {
		t.Errorf("counters nated %d new %d", w.c[CountNATed], w.c[CountNewConnections])
	}
}

// The packet path allocates nothing: decode, conntrack, NAT, route.
func TestPipelineDoesNotAllocate(t *testing.T) {
	w := pipelineWorker(t, 4096)
	frames := udpFrames(t, 1000)
	buf := make([]byte, 2048)
	for _, f := range frames { // create the connections first
		copy(buf, f)
		w.forward(inside, buf, len(f))
	}
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		f := frames[i%len(frames)]
		i++
		copy(buf, f)
		if out, _ := w.forward(inside, buf, len(f)); out != outside {
			t.Fatal("not forwarded")
		}
	})
	if allocs != 0 {
		t.Fatalf("the pipeline allocates %.2f times per packet", allocs)
	}
}

// BenchmarkPipeline is the engine's per-packet work in user space, with no
// sockets: decode, conntrack lookup and update, SNAT rewrite, TTL, route,
// neighbour, MACs. Each iteration also copies the 64-byte frame back, which
// it then rewrites.
func BenchmarkPipeline(b *testing.B) {
	for _, flows := range []int{1, 1000, 100000} {
		b.Run(map[int]string{1: "1", 1000: "1K", 100000: "100K"}[flows], func(b *testing.B) {
			w := pipelineWorker(b, 2*flows)
			frames := udpFrames(b, flows)
			buf := make([]byte, 2048)
			for _, f := range frames {
				copy(buf, f)
				w.forward(inside, buf, len(f))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f := frames[i%len(frames)]
				copy(buf, f)
				w.forward(inside, buf, len(f))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
		})
	}
}

// A neighbour whose MAC changes (a failover's gratuitous ARP) is followed at
// once: the next-hop cache is only valid for one mirror generation.
func TestNextHopCacheFollowsNeighbourChanges(t *testing.T) {
	w := pipelineWorker(t, 1024)
	frame := udpFrames(t, 1)[0]
	buf := make([]byte, 2048)
	send := func() (int, [6]byte) {
		copy(buf, frame)
		out, n := w.forward(inside, buf, len(frame))
		var mac [6]byte
		copy(mac[:], buf[:6])
		_ = n
		return out, mac
	}
	if _, mac := send(); mac != [6]byte{2, 0, 0, 0, 0, 7} {
		t.Fatalf("first packet to %v", mac)
	}
	server := netip.MustParseAddr("198.51.100.7")
	w.mirror.SetNeighbor(3, server, [6]byte{2, 0, 0, 0, 0, 8})
	if _, mac := send(); mac != [6]byte{2, 0, 0, 0, 0, 8} {
		t.Fatalf("after the MAC moved, packet still to %v", mac)
	}
	w.mirror.SetNeighbor(3, server, [6]byte{})
	if out, _ := send(); out >= 0 {
		t.Fatalf("after the neighbour went away, packet still forwarded on side %d", out)
	}
	if w.c[CountDropNoNeighbor] != 1 {
		t.Errorf("drop_no_neighbor %d, want 1 (no raw sender in this test)", w.c[CountDropNoNeighbor])
	}
}
