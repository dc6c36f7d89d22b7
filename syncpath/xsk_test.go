package syncpath_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/packet"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// xskEnds opens an AF_XDP transport at each end of a lab link: member
// activeID in nsA at addrA, backupID in nsB at addrB. They are closed when
// the test ends (before its lab goes).
func xskEnds(t *testing.T, nsA, nsB, ifname string, addrA, addrB netip.Addr) (a, b *syncpath.XSKTransport) {
	t.Helper()
	port := uint16(ccp.UDPPort)
	open := func(ns string, self netip.Addr, peer uint8, peerAddr netip.Addr) *syncpath.XSKTransport {
		var tr *syncpath.XSKTransport
		labtest.Do(t, ns, func() (err error) {
			tr, err = syncpath.ListenXSK(syncpath.XSKConfig{
				Ifname: ifname, Local: netip.AddrPortFrom(self, port),
				Peers: map[uint8]netip.AddrPort{peer: netip.AddrPortFrom(peerAddr, port)},
			})
			return err
		})
		t.Cleanup(func() {
			if err := tr.Close(); err != nil {
				t.Errorf("closing the transport in %s: %v", ns, err)
			}
		})
		return tr
	}
	a = open(nsA, addrA, backupID, addrB)
	b = open(nsB, addrB, activeID, addrA)
	waitResolved(t, a, backupID)
	waitResolved(t, b, activeID)
	return a, b
}

// waitResolved waits until tr knows peer's MAC address (the kernel resolves
// it by ARP, which the steering program passes to it).
func waitResolved(t *testing.T, tr *syncpath.XSKTransport, peer uint8) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !tr.Resolved(peer); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("member %d's MAC address not resolved in 5s", peer)
		}
	}
}

// receiveOne waits up to 2s for one datagram on tr.
func receiveOne(t *testing.T, tr *syncpath.XSKTransport, buf []byte) []byte {
	t.Helper()
	bufs, sizes := [][]byte{buf}, []int{0}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		n, err := tr.Receive(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return buf[:sizes[0]]
		}
	}
	t.Fatal("no datagram within 2s")
	return nil
}

func payload(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) + seed
	}
	return p
}

// exchange sends datagrams of the given sizes both ways and checks they
// arrive intact.
func exchange(t *testing.T, a, b *syncpath.XSKTransport, sizes []int) {
	t.Helper()
	buf := make([]byte, 9216)
	for i, n := range sizes {
		for _, dir := range []struct {
			from, to *syncpath.XSKTransport
			peer     uint8
		}{{a, b, backupID}, {b, a, activeID}} {
			p := payload(n, byte(i))
			if err := dir.from.Send(dir.peer, p); err != nil {
				t.Fatalf("sending %d bytes to member %d: %v", n, dir.peer, err)
			}
			if got := receiveOne(t, dir.to, buf); !bytes.Equal(got, p) {
				t.Fatalf("member %d received %d bytes, want the %d sent", dir.peer, len(got), n)
			}
		}
	}
}

func TestXSKTransportExchangesBothWays(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	a, b := xskEnds(t, l.A, l.B, lab.IfPair, lab.PairAddrA, lab.PairAddrB)
	if a.MaxDatagram() != 1500-28 {
		t.Errorf("MaxDatagram %d at MTU 1500, want 1472", a.MaxDatagram())
	}
	exchange(t, a, b, []int{1, 100, 1000, a.MaxDatagram()})
	if err := a.Send(backupID, make([]byte, a.MaxDatagram()+1)); !errors.Is(err, syncpath.ErrFrameTooBig) {
		t.Errorf("send above the MTU: %v, want ErrFrameTooBig", err)
	}
	if err := a.Send(9, []byte{1}); !errors.Is(err, syncpath.ErrNoPeer) {
		t.Errorf("send to an unconfigured member: %v, want ErrNoPeer", err)
	}
	st := a.Stats()
	if st.FramesSent != 4 || st.FramesReceived != 4 || st.SendTooBig != 1 || st.SendNoPeer != 1 {
		t.Errorf("stats %+v: want 4 sent, 4 received, 1 too big, 1 without peer", st)
	}
	if st.BytesSent != uint64(4*a.HeaderLen()+1+100+1000+a.MaxDatagram()) {
		t.Errorf("bytes sent %d: want the datagrams plus %d bytes of headers each", st.BytesSent, a.HeaderLen())
	}
	if got := b.Stats(); got.DropMalformed+got.DropForeign+got.DropChecksum+got.DropNotUDP != 0 {
		t.Errorf("the receiver dropped frames: %+v", got)
	}

	// Close detaches the program and the socket: the interface has no XDP
	// program left, and the transport refuses work.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	labtest.Do(t, l.A, func() error {
		lk, err := netlink.LinkByName(lab.IfPair)
		if err != nil {
			return err
		}
		if x := lk.Attrs().Xdp; x != nil && x.Attached {
			return errors.New("an XDP program is still attached after Close")
		}
		return nil
	})
	if err := a.Send(backupID, []byte{1}); !errors.Is(err, syncpath.ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
	if _, err := a.Receive([][]byte{buf1()}, []int{0}); !errors.Is(err, syncpath.ErrClosed) {
		t.Errorf("receive after close: %v", err)
	}
}

func buf1() []byte { return make([]byte, 64) }

// TestXSKTransportJumboFrames exchanges datagrams up to a 9000-byte MTU
// on the lab's sync link: they leave and arrive as descriptor chains.
func TestXSKTransportJumboFrames(t *testing.T) {
	l := labtest.New(t, lab.Config{SyncMTU: 9000})
	a, b := xskEnds(t, l.GW1, l.GW2, lab.IfSync, lab.GW1Sync, lab.GW2Sync)
	if a.MaxDatagram() != 9000-28 {
		t.Fatalf("MaxDatagram %d at MTU 9000", a.MaxDatagram())
	}
	exchange(t, a, b, []int{10, 3000, 3900, 4000, 8000, a.MaxDatagram()})
}

// TestXSKTransportUnresolvedPeer: a peer whose address nobody answers has
// no MAC address; Send says so and counts it, and asks the kernel again.
func TestXSKTransportUnresolvedPeer(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	var tr *syncpath.XSKTransport
	nobody := netip.MustParseAddr("10.78.0.99") // on the lab link, and absent
	labtest.Do(t, l.A, func() (err error) {
		tr, err = syncpath.ListenXSK(syncpath.XSKConfig{
			Ifname: lab.IfPair, Local: netip.AddrPortFrom(lab.PairAddrA, 0),
			Peers: map[uint8]netip.AddrPort{backupID: netip.AddrPortFrom(nobody, 0)},
		})
		return err
	})
	defer tr.Close()
	if err := tr.Send(backupID, []byte("hello")); !errors.Is(err, syncpath.ErrNeighbourUnresolved) {
		t.Fatalf("send to an unresolved peer: %v, want ErrNeighbourUnresolved", err)
	}
	if st := tr.Stats(); st.SendUnresolved != 1 || st.FramesSent != 0 {
		t.Fatalf("stats %+v: want one unresolved send and nothing sent", st)
	}
}

// TestXSKTransportDropsBadFrames sends, from the peer's namespace, frames
// to the CCP port that the transport must refuse, and checks each is
// counted under its reason and none is handed out.
func TestXSKTransportDropsBadFrames(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	_, b := xskEnds(t, l.A, l.B, lab.IfPair, lab.PairAddrA, lab.PairAddrB)
	macA, _ := lab.HardwareAddr(l.A, lab.IfPair)
	macB, _ := lab.HardwareAddr(l.B, lab.IfPair)
	good := packet.Spec{
		DstMAC: [6]byte(macB), SrcMAC: [6]byte(macA),
		Src: lab.PairAddrA.As16(), Dst: lab.PairAddrB.As16(), Proto: packet.ProtoUDP,
		SrcPort: ccp.UDPPort, DstPort: ccp.UDPPort, Payload: []byte("not a ccp frame, but a datagram"),
	}
	build := func(mod func(s *packet.Spec), corrupt func(f []byte) []byte) []byte {
		s := good
		if mod != nil {
			mod(&s)
		}
		f := make([]byte, 128)
		f = f[:packet.Build(f, &s)]
		if corrupt != nil {
			f = corrupt(f)
		}
		return f
	}
	cases := []struct {
		name  string
		frame []byte
		count func(syncpath.XSKStats) uint64
	}{
		{"foreign source port", build(func(s *packet.Spec) { s.SrcPort = 4000 }, nil), func(s syncpath.XSKStats) uint64 { return s.DropForeign }},
		{"foreign source address", build(func(s *packet.Spec) { s.Src = netip.MustParseAddr("10.78.0.7").As16() }, nil), func(s syncpath.XSKStats) uint64 { return s.DropForeign }},
		{"other destination address", build(func(s *packet.Spec) { s.Dst = netip.MustParseAddr("10.78.0.8").As16() }, nil), func(s syncpath.XSKStats) uint64 { return s.DropNotLocal }},
		{"bad UDP checksum", build(nil, func(f []byte) []byte { f[len(f)-1] ^= 0xff; return f }), func(s syncpath.XSKStats) uint64 { return s.DropChecksum }},
		{"UDP length beyond the packet", build(nil, func(f []byte) []byte { f[14+20+4], f[14+20+5] = 0x04, 0x00; return f }), func(s syncpath.XSKStats) uint64 { return s.DropMalformed }},
		{"bad IPv4 header checksum", build(nil, func(f []byte) []byte { f[14+10] ^= 0xff; return f }), func(s syncpath.XSKStats) uint64 { return s.DropMalformed }},
	}
	var fd int
	var ifindex int
	labtest.Do(t, l.A, func() (err error) {
		ifi, err := net.InterfaceByName(lab.IfPair)
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	defer unix.Close(fd)
	buf := make([]byte, 2048)
	for _, c := range cases {
		before := c.count(b.Stats())
		if err := unix.Sendto(fd, c.frame, 0, &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}); err != nil {
			t.Fatalf("%s: sending: %v", c.name, err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for c.count(b.Stats()) == before && time.Now().Before(deadline) {
			if n, _ := b.Receive([][]byte{buf}, []int{0}); n != 0 {
				t.Fatalf("%s: the frame was handed out", c.name)
			}
		}
		if got := c.count(b.Stats()); got != before+1 {
			t.Errorf("%s: counter went from %d to %d, want one more (stats %+v)", c.name, before, got, b.Stats())
		}
	}
	// The good frame itself passes: the cases above fail for their reason.
	if err := unix.Sendto(fd, build(nil, nil), 0, &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}); err != nil {
		t.Fatal(err)
	}
	if got := receiveOne(t, b, buf); string(got) != string(good.Payload) {
		t.Fatalf("the well-formed frame arrived as %q", got)
	}
	if st := b.Stats(); st.FramesReceived != 1 {
		t.Errorf("received %d frames, want 1: %+v", st.FramesReceived, st)
	}
}

func TestXSKTransportSendReceiveDoNotAllocate(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	a, b := xskEnds(t, l.A, l.B, lab.IfPair, lab.PairAddrA, lab.PairAddrB)
	p := payload(1400, 1)
	bufs := [][]byte{make([]byte, 2048), make([]byte, 2048)}
	sizes := make([]int, 2)
	got := 0
	allocs := testing.AllocsPerRun(500, func() {
		if err := a.Send(backupID, p); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			n, _ := b.Receive(bufs, sizes)
			if got += n; n > 0 {
				break
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("Send and Receive allocate %.1f times per datagram", allocs)
	}
	if got < 500 {
		t.Fatalf("received %d of the 501 datagrams sent", got)
	}
}

func TestListenXSKConfigErrors(t *testing.T) {
	if _, err := syncpath.ListenXSK(syncpath.XSKConfig{}); !errors.Is(err, syncpath.ErrConfig) {
		t.Fatalf("empty config: %v, want ErrConfig", err)
	}
}

// TestXSKSessionsConverge replicates 100,000 connections between two
// sessions over the AF_XDP transport on a lab link, with the real clock,
// and checks the backup's table is the active's.
func TestXSKSessionsConverge(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	ta, tb := xskEnds(t, l.A, l.B, lab.IfPair, lab.PairAddrA, lab.PairAddrB)
	const conns = 100000
	clk := clock.NewCoarse(time.Millisecond)
	defer clk.Close()
	to := conntrack.DefaultTimeouts()
	to.UDP, to.UDPStream = time.Hour, time.Hour
	sink, err := syncpath.NewSink(1 << 17)
	if err != nil {
		t.Fatal(err)
	}
	active, err := conntrack.New(conntrack.Config{MaxEntries: 1 << 18, Self: activeID, Clock: clk, Timeouts: to, Records: sink})
	if err != nil {
		t.Fatal(err)
	}
	backup, err := conntrack.New(conntrack.Config{MaxEntries: 1 << 18, Self: backupID, Clock: clk, Timeouts: to})
	if err != nil {
		t.Fatal(err)
	}
	keys := testKeys(t)
	sa, err := syncpath.New(syncpath.Config{Cluster: testCluster, Self: activeID, Peer: backupID, Epoch: 1, Keys: keys,
		Transport: ta, Table: active, Sink: sink, Delay: -1})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := syncpath.New(syncpath.Config{Cluster: testCluster, Self: backupID, Peer: activeID, Epoch: 1, Keys: keys,
		Transport: tb, Table: backup, Delay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	go func() { errc <- sa.Run(ctx) }()
	go func() { errc <- sb.Run(ctx) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
	}()
	for i := range conns {
		var src, dst [16]byte
		src[10], src[11], src[12], src[13], src[14], src[15] = 0xff, 0xff, 10, byte(i>>16), byte(i>>8), byte(i)
		dst[10], dst[11], dst[12], dst[13], dst[14], dst[15] = 0xff, 0xff, 192, 0, 2, 1
		k := conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoUDP, src, dst, uint16(1024+i%60000), 53)
		if res := active.Track(k, conntrack.Segment{}, conntrack.NATRequest{}); res.Verdict != conntrack.Accept {
			t.Fatalf("creating connection %d: %v", i, res.Verdict)
		}
	}
	var da, db uint64
	var na, nb int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		da, na = active.Digest()
		db, nb = backup.Digest()
		if da == db && na == nb {
			break
		}
	}
	if na != conns || da != db || na != nb {
		t.Logf("active %+v", sa.Counters())
		t.Logf("backup %+v", sb.Counters())
		t.Logf("transports: active %+v, backup %+v", ta.Stats(), tb.Stats())
		t.Fatalf("active holds %d connections (digest %x), backup %d (digest %x)", na, da, nb, db)
	}
	if c := sb.Counters(); c.Rejected.Rejected() != 0 {
		t.Errorf("the backup rejected %d frames", c.Rejected.Rejected())
	}
	if st := tb.Stats(); st.FramesReceived == 0 || st.DropForeign+st.DropMalformed+st.DropChecksum != 0 {
		t.Errorf("backup transport: %+v", st)
	}
}

// TestXSKTransportIPv6 exchanges datagrams over IPv6 on the lab's sync
// link: the peers' MAC addresses come from neighbour discovery, which the
// steering program leaves to the kernel.
func TestXSKTransportIPv6(t *testing.T) {
	l := labtest.New(t, lab.Config{Queues: 1})
	a, b := xskEnds(t, l.GW1, l.GW2, lab.IfSync, lab.GW1Sync6, lab.GW2Sync6)
	if a.MaxDatagram() != 1500-48 || a.HeaderLen() != 62 {
		t.Fatalf("IPv6: MaxDatagram %d, HeaderLen %d; want 1452 and 62", a.MaxDatagram(), a.HeaderLen())
	}
	exchange(t, a, b, []int{1, 700, a.MaxDatagram()})
}
