package xsk_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
	"github.com/tandem-gw/tandem/tools/xdpgen"
)

// rxEnd is a receiving end in a lab namespace: the steering program on an
// interface, and one AF_XDP socket per queue on one shared UMEM.
type rxEnd struct {
	steer   *xdp.Steering
	umem    *xsk.UMEM
	socks   []*xsk.Socket
	free    []*xsk.FreeList
	ifindex int
}

// newRxEnd must be called inside the namespace (labtest.Do).
func newRxEnd(t *testing.T, ifname string, queues int, flags uint32, cfg xsk.Config) (*rxEnd, error) {
	r := &rxEnd{}
	var err error
	if r.steer, err = xdp.NewSteering(64); err != nil {
		return nil, err
	}
	t.Cleanup(func() { r.close() })
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	r.ifindex = ifi.Index
	if _, err := r.steer.Attach(ifname, xdp.AttachNative); err != nil {
		return nil, err
	}
	if err := r.steer.SetInterface(ifi.Index, xdp.InterfaceConfig{DataBase: 0, CCPBase: 32, Flags: flags}); err != nil {
		return nil, err
	}
	if r.umem, err = xsk.NewUMEM(xsk.UMEMConfig{FrameCount: uint32(4096 * queues)}); err != nil {
		return nil, err
	}
	for q := 0; q < queues; q++ {
		s, err := xsk.Open(r.umem, ifname, uint32(q), cfg)
		if err != nil {
			return nil, err
		}
		r.socks = append(r.socks, s)
		slot := uint32(q)
		if flags&xdp.SteerData == 0 {
			slot += 32
		}
		if err := r.steer.Register(slot, s.FD()); err != nil {
			return nil, err
		}
		fl := xsk.NewFreeList(r.umem, uint32(q*4096), 4096)
		r.free = append(r.free, fl)
		addrs := make([]uint64, 2048)
		n := fl.Get(addrs)
		if got := s.Fill.Produce(addrs[:n]); got != n {
			return nil, fmt.Errorf("filled %d of %d frames", got, n)
		}
	}
	return r, nil
}

func (r *rxEnd) close() {
	for _, s := range r.socks {
		s.Close()
	}
	r.socks = nil
	if r.umem != nil {
		r.umem.Close()
		r.umem = nil
	}
	if r.steer != nil {
		r.steer.Close()
		r.steer = nil
	}
}

// receive drains queue q until want packets or the deadline, refilling the
// fill ring, and returns copies of the packets.
func (r *rxEnd) receive(q int, want int, timeout time.Duration) [][]byte {
	s, fl := r.socks[q], r.free[q]
	descs := make([]xsk.Desc, 64)
	addrs := make([]uint64, 64)
	var out [][]byte
	deadline := time.Now().Add(timeout)
	for len(out) < want && time.Now().Before(deadline) {
		n := s.Rx.Receive(descs)
		if n == 0 {
			s.Poll(10 * time.Millisecond)
			continue
		}
		for i := 0; i < n; i++ {
			out = append(out, bytes.Clone(r.umem.Bytes(descs[i].Addr, descs[i].Len)))
			addrs[i] = descs[i].Addr
		}
		fl.Put(addrs[:n])
		m := fl.Get(addrs[:n])
		s.Fill.Produce(addrs[:m])
	}
	return out
}

// udpSend sends count datagrams from inside ns to dst with a kernel socket.
func udpSend(t *testing.T, ns string, dst netip.AddrPort, count int, tag string) {
	t.Helper()
	labtest.Do(t, ns, func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < count; i++ {
			if _, err := fmt.Fprintf(c, "%s-%d", tag, i); err != nil {
				return err
			}
		}
		return nil
	})
}

func udpPayload(frame []byte) []byte {
	if len(frame) < 42 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return nil
	}
	ihl := int(frame[14]&0x0f) * 4
	return frame[14+ihl+8:]
}

func TestReceiveFromKernelSender(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	var r *rxEnd
	labtest.Do(t, l.B, func() (err error) {
		r, err = newRxEnd(t, lab.IfPair, 1, xdp.SteerData, xsk.Config{})
		return err
	})
	if r.socks[0].Mode() != xsk.ModeCopy {
		t.Errorf("veth bound in %v, want copy (veth has no zero-copy)", r.socks[0].Mode())
	}
	udpSend(t, l.A, netip.AddrPortFrom(lab.PairAddrB, 9999), 100, "hello")
	got := r.receive(0, 100, 5*time.Second)
	if len(got) != 100 {
		t.Fatalf("received %d of 100 datagrams through AF_XDP", len(got))
	}
	seen := map[string]bool{}
	for _, p := range got {
		seen[string(udpPayload(p))] = true
	}
	for i := 0; i < 100; i++ {
		if !seen[fmt.Sprintf("hello-%d", i)] {
			t.Errorf("datagram hello-%d missing", i)
		}
	}
	st, err := r.socks[0].Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.RxDropped != 0 || st.RxInvalidDescs != 0 {
		t.Errorf("socket statistics show drops: %+v", st)
	}
	// The kernel answered ARP for B although the program runs on B's veth.
	c, err := r.steer.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	if c[xdp.CountPassNonIP] == 0 {
		t.Errorf("no ARP passed to the kernel: counters %v", c)
	}
}

func TestReceiveFromLiveFrameSender(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	var r *rxEnd
	labtest.Do(t, l.B, func() (err error) {
		r, err = newRxEnd(t, lab.IfPair, 1, xdp.SteerData, xsk.Config{})
		return err
	})
	macA, err := lab.HardwareAddr(l.A, lab.IfPair)
	if err != nil {
		t.Fatal(err)
	}
	macB, err := lab.HardwareAddr(l.B, lab.IfPair)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := xdpgen.UDP4Frame(nil, xdpgen.UDP4{DstMAC: macB, SrcMAC: macA, Src: lab.PairAddrA, Dst: lab.PairAddrB, SrcPort: 1000, DstPort: 2000}, 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n, flows = 1000, 100
	labtest.Do(t, l.A, func() error {
		s, err := xdpgen.NewSender(lab.IfPair, xdpgen.SenderConfig{Frame: frame, Flows: flows})
		if err != nil {
			return err
		}
		defer s.Close()
		_, err = s.Send(n)
		return err
	})
	got := r.receive(0, n, 5*time.Second)
	if len(got) != n {
		t.Fatalf("received %d of %d frames", len(got), n)
	}
	ports := map[uint16]int{}
	for _, f := range got {
		if len(f) != 64 {
			t.Fatalf("frame of %d bytes, want 64", len(f))
		}
		ports[binary.BigEndian.Uint16(f[34:])]++
	}
	if len(ports) != flows {
		t.Errorf("%d distinct source ports, want %d flows", len(ports), flows)
	}
}

func TestTransmitToKernel(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	macA, _ := lab.HardwareAddr(l.A, lab.IfPair)
	macB, _ := lab.HardwareAddr(l.B, lab.IfPair)

	// A kernel UDP socket in B receives what A's AF_XDP socket sends.
	var conn *net.UDPConn
	labtest.Do(t, l.B, func() (err error) {
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lab.PairAddrB, 7777)))
		return err
	})
	defer conn.Close()

	var (
		umem *xsk.UMEM
		s    *xsk.Socket
	)
	labtest.Do(t, l.A, func() (err error) {
		if umem, err = xsk.NewUMEM(xsk.UMEMConfig{FrameCount: 1024}); err != nil {
			return err
		}
		s, err = xsk.Open(umem, lab.IfPair, 0, xsk.Config{RxSize: -1})
		return err
	})
	defer umem.Close()
	defer s.Close()

	const n = 200
	fl := xsk.NewFreeList(umem, 0, 1024)
	addrs := make([]uint64, n)
	fl.Get(addrs)
	descs := make([]xsk.Desc, n)
	for i := range descs {
		addr := addrs[i] + uint64(umem.TxHeadroom())
		buf := umem.Bytes(addr, umem.MaxPacket())
		f, err := xdpgen.UDP4Frame(buf[:0], xdpgen.UDP4{DstMAC: macB, SrcMAC: macA, Src: lab.PairAddrA, Dst: lab.PairAddrB, SrcPort: 5555, DstPort: 7777}, 0, []byte(fmt.Sprintf("tx-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		descs[i] = xsk.Desc{Addr: addr, Len: uint32(len(f))}
	}
	sent := 0
	completed := make([]uint64, n)
	done := 0
	deadline := time.Now().Add(5 * time.Second)
	for done < n && time.Now().Before(deadline) {
		sent += s.Tx.Transmit(descs[sent:])
		if err := s.Kick(); err != nil {
			t.Fatal(err)
		}
		done += s.Completion.Consume(completed[done:])
	}
	if done != n {
		t.Fatalf("%d of %d transmissions completed", done, n)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	seen := map[string]bool{}
	for len(seen) < n {
		m, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("kernel received %d of %d datagrams: %v", len(seen), n, err)
		}
		seen[string(buf[:m])] = true
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.TxInvalidDescs != 0 {
		t.Errorf("tx invalid descriptors: %+v", st)
	}
}

func TestTwoQueuesShareOneUMEM(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 2})
	var r *rxEnd
	labtest.Do(t, l.B, func() (err error) {
		// need_wakeup on the first socket: the shared one inherits it and
		// must not pass it to bind (EINVAL).
		r, err = newRxEnd(t, lab.IfPair, 2, xdp.SteerData, xsk.Config{NeedWakeup: true})
		return err
	})
	macA, _ := lab.HardwareAddr(l.A, lab.IfPair)
	macB, _ := lab.HardwareAddr(l.B, lab.IfPair)

	// A sends on queue 0 and queue 1 from two tx sockets sharing a UMEM;
	// a veth delivers tx queue q to the peer's rx queue q.
	var (
		umem *xsk.UMEM
		tx   [2]*xsk.Socket
	)
	labtest.Do(t, l.A, func() (err error) {
		if umem, err = xsk.NewUMEM(xsk.UMEMConfig{FrameCount: 512}); err != nil {
			return err
		}
		for q := range tx {
			if tx[q], err = xsk.Open(umem, lab.IfPair, uint32(q), xsk.Config{RxSize: -1}); err != nil {
				return err
			}
		}
		return nil
	})
	defer umem.Close()
	defer tx[1].Close()
	defer tx[0].Close()

	const n = 50
	for q := range tx {
		descs := make([]xsk.Desc, n)
		for i := range descs {
			addr := umem.FrameAddr(uint32(q*n+i)) + uint64(umem.TxHeadroom())
			f, err := xdpgen.UDP4Frame(umem.Bytes(addr, 128)[:0], xdpgen.UDP4{DstMAC: macB, SrcMAC: macA, Src: lab.PairAddrA, Dst: lab.PairAddrB, SrcPort: 1, DstPort: 2}, 0, []byte(fmt.Sprintf("q%d-%d", q, i)))
			if err != nil {
				t.Fatal(err)
			}
			descs[i] = xsk.Desc{Addr: addr, Len: uint32(len(f))}
		}
		// Copy mode sends at most the tx budget (32) per kick: kick until
		// every frame has completed.
		sent, done := 0, 0
		comp := make([]uint64, n)
		for deadline := time.Now().Add(5 * time.Second); done < n && time.Now().Before(deadline); {
			sent += tx[q].Tx.Transmit(descs[sent:])
			if err := tx[q].Kick(); err != nil {
				t.Fatal(err)
			}
			done += tx[q].Completion.Consume(comp[done:])
		}
		if done != n {
			t.Fatalf("queue %d: %d of %d transmissions completed", q, done, n)
		}
	}
	for q := 0; q < 2; q++ {
		got := r.receive(q, n, 5*time.Second)
		if len(got) != n {
			t.Errorf("queue %d received %d of %d", q, len(got), n)
		}
		for _, f := range got {
			if p := string(udpPayload(f)); len(p) < 2 || p[:2] != fmt.Sprintf("q%d", q) {
				t.Errorf("queue %d received %q, sent on another queue", q, p)
			}
		}
	}
}

func TestCCPSteeredToItsOwnSocket(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	var r *rxEnd
	labtest.Do(t, l.GW2, func() (err error) {
		r, err = newRxEnd(t, lab.IfSync, 1, xdp.SteerCCP, xsk.Config{})
		return err
	})
	// Other traffic on the sync link stays with gw2's kernel.
	var conn *net.UDPConn
	labtest.Do(t, l.GW2, func() (err error) {
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lab.GW2Sync, 9999)))
		return err
	})
	defer conn.Close()

	udpSend(t, l.GW1, netip.AddrPortFrom(lab.GW2Sync, xdp.CCPPort), 20, "ccp")
	udpSend(t, l.GW1, netip.AddrPortFrom(lab.GW2Sync, 9999), 5, "other")

	got := r.receive(0, 20, 5*time.Second)
	if len(got) != 20 {
		t.Fatalf("ccp socket received %d of 20", len(got))
	}
	for _, f := range got {
		if p := string(udpPayload(f)); p[:3] != "ccp" {
			t.Errorf("ccp socket received %q", p)
		}
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 100)
	for i := 0; i < 5; i++ {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("kernel socket on the sync link received %d of 5: %v", i, err)
		}
		if p := string(buf[:n]); p[:5] != "other" {
			t.Errorf("kernel socket received %q", p)
		}
	}
	c, err := r.steer.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	if c[xdp.CountCCP] != 20 {
		t.Errorf("ccp counter %d, want 20", c[xdp.CountCCP])
	}
	if c[xdp.CountPassNotSteered] < 5 {
		t.Errorf("not-steered counter %d, want at least 5", c[xdp.CountPassNotSteered])
	}
}

func TestARPStillAnsweredByKernel(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	var r *rxEnd
	labtest.Do(t, l.B, func() (err error) {
		r, err = newRxEnd(t, lab.IfPair, 1, xdp.SteerData, xsk.Config{})
		return err
	})
	macB, _ := lab.HardwareAddr(l.B, lab.IfPair)
	// A resolves B: the request reaches B's XDP program, goes to B's kernel,
	// and the reply fills A's neighbour table.
	udpSend(t, l.A, netip.AddrPortFrom(lab.PairAddrB, 9), 1, "x")
	var mac net.HardwareAddr
	deadline := time.Now().Add(3 * time.Second)
	for mac == nil && time.Now().Before(deadline) {
		labtest.Do(t, l.A, func() error {
			neighs, err := netlink.NeighList(0, unix.AF_INET)
			if err != nil {
				return err
			}
			for _, n := range neighs {
				if n.IP.Equal(lab.PairAddrB.AsSlice()) && n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY) != 0 {
					mac = n.HardwareAddr
				}
			}
			return nil
		})
		time.Sleep(20 * time.Millisecond)
	}
	if !bytes.Equal(mac, macB) {
		t.Fatalf("A resolved B to %v, want %v", mac, macB)
	}
	c, _ := r.steer.ReadCounters()
	if c[xdp.CountPassNonIP] == 0 {
		t.Errorf("ARP was not counted as passed to the kernel: %v", c)
	}
}

func TestBindFallsBackToCopyOnVeth(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	labtest.Do(t, l.B, func() error {
		u, err := xsk.NewUMEM(xsk.UMEMConfig{FrameCount: 64})
		if err != nil {
			return err
		}
		defer u.Close()
		_, err = xsk.Open(u, lab.IfPair, 0, xsk.Config{Mode: xsk.ModeZeroCopy, RxSize: 64, FillSize: 64, TxSize: -1, CompletionSize: 64})
		if !errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("zero-copy bind on veth: got %w, want EOPNOTSUPP", err)
		}
		s, err := xsk.Open(u, lab.IfPair, 0, xsk.Config{Mode: xsk.ModeAuto, RxSize: 64, FillSize: 64, TxSize: -1, CompletionSize: 64})
		if err != nil {
			return fmt.Errorf("auto bind after a failed zero-copy bind: %w", err)
		}
		defer s.Close()
		if s.Mode() != xsk.ModeCopy {
			return fmt.Errorf("auto bind on veth gave %v, want copy", s.Mode())
		}
		return nil
	})
}

func TestBindErrorsNameInterfaceAndQueue(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	labtest.Do(t, l.B, func() error {
		u, err := xsk.NewUMEM(xsk.UMEMConfig{FrameCount: 64})
		if err != nil {
			return err
		}
		defer u.Close()
		_, err = xsk.Open(u, lab.IfPair, 5, xsk.Config{RxSize: 64, FillSize: 64, TxSize: -1, CompletionSize: 64})
		if err == nil {
			return errors.New("bind to queue 5 of a one-queue veth succeeded")
		}
		if !errors.Is(err, unix.EINVAL) || !bytes.Contains([]byte(err.Error()), []byte("veth0 queue 5")) {
			return fmt.Errorf("error %w: want EINVAL naming veth0 queue 5", err)
		}
		return nil
	})
}

func TestJumboFramesArriveAsDescriptorChains(t *testing.T) {
	l := labtest.New(t, lab.Config{SyncMTU: 9000})
	var r *rxEnd
	labtest.Do(t, l.GW2, func() (err error) {
		r, err = newRxEnd(t, lab.IfSync, 1, xdp.SteerCCP, xsk.Config{MultiBuffer: true})
		return err
	})
	payload := make([]byte, 8000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	labtest.Do(t, l.GW1, func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(lab.GW2Sync, xdp.CCPPort)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(payload)
		return err
	})
	s, fl := r.socks[0], r.free[0]
	descs := make([]xsk.Desc, 64)
	var chain []xsk.Desc
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		n := s.Rx.Receive(descs)
		chain = append(chain, descs[:n]...)
		if _, complete := xsk.PacketSpan(chain); complete && len(chain) > 0 {
			break
		}
		s.Poll(10 * time.Millisecond)
	}
	n, complete := xsk.PacketSpan(chain)
	if !complete {
		t.Fatalf("no complete packet: %d descriptors", len(chain))
	}
	if n < 2 {
		t.Fatalf("a jumbo frame arrived in %d descriptor(s), want a chain", n)
	}
	var frame []byte
	for _, d := range chain[:n] {
		if d.Len > r.umem.FrameSize()-xsk.PacketHeadroom {
			t.Errorf("descriptor of %d bytes exceeds a frame", d.Len)
		}
		frame = append(frame, r.umem.Bytes(d.Addr, d.Len)...)
		fl.Put([]uint64{d.Addr})
	}
	if got := udpPayload(frame); !bytes.Equal(got, payload) {
		t.Fatalf("reassembled payload of %d bytes differs from the 8000 sent", len(got))
	}
}

func TestTransmitPathDoesNotAllocate(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	macA, _ := lab.HardwareAddr(l.A, lab.IfPair)
	macB, _ := lab.HardwareAddr(l.B, lab.IfPair)
	var (
		umem *xsk.UMEM
		s    *xsk.Socket
	)
	labtest.Do(t, l.A, func() (err error) {
		if umem, err = xsk.NewUMEM(xsk.UMEMConfig{FrameCount: 256}); err != nil {
			return err
		}
		s, err = xsk.Open(umem, lab.IfPair, 0, xsk.Config{NeedWakeup: true})
		return err
	})
	defer umem.Close()
	defer s.Close()
	descs := make([]xsk.Desc, 32)
	for i := range descs {
		addr := umem.FrameAddr(uint32(i)) + uint64(umem.TxHeadroom())
		f, _ := xdpgen.UDP4Frame(umem.Bytes(addr, 64)[:0], xdpgen.UDP4{DstMAC: macB, SrcMAC: macA, Src: lab.PairAddrA, Dst: lab.PairAddrB, SrcPort: 1, DstPort: 9}, 64, nil)
		descs[i] = xsk.Desc{Addr: addr, Len: uint32(len(f))}
	}
	comp := make([]uint64, 32)
	rx := make([]xsk.Desc, 32)
	allocs := testing.AllocsPerRun(200, func() {
		n := s.Tx.Transmit(descs)
		_ = s.Kick()
		for got := 0; got < n; {
			got += s.Completion.Consume(comp[got:])
			_ = s.Kick()
		}
		_ = s.Rx.Receive(rx)
		_ = s.WakeRx()
		_, _ = s.Poll(0)
	})
	if allocs != 0 {
		t.Fatalf("transmit, kick, complete, receive and poll allocate %.1f times per batch", allocs)
	}
}
