package bench

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/xdpgen"
)

const (
	senderCPU   = 0
	receiverCPU = 1
	frameSize   = 64 // bytes of Ethernet frame, as on the wire without FCS
	benchFlows  = 1024
)

var pairLab sharedLab

// benchPair returns the pair lab shared by the AF_XDP benchmarks: one queue,
// sender in namespace A, receiver in B.
func benchPair(b *testing.B) *lab.Lab { return pairLab.get(b, lab.UpPair) }

// template builds the 64-byte frame from A to B.
func template(b *testing.B, l *lab.Lab) []byte {
	macA, err := lab.HardwareAddr(l.A, lab.IfPair)
	if err != nil {
		b.Fatal(err)
	}
	macB, err := lab.HardwareAddr(l.B, lab.IfPair)
	if err != nil {
		b.Fatal(err)
	}
	f, err := xdpgen.UDP4Frame(nil, xdpgen.UDP4{DstMAC: macB, SrcMAC: macA, Src: lab.PairAddrA, Dst: lab.PairAddrB, SrcPort: 1024, DstPort: 4000}, frameSize, nil)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// send transmits n frames from A, pinned to the sender CPU, and returns when
// the first frame left and the kernel's time for all of them.
func send(b *testing.B, l *lab.Lab, frame []byte, n, flows int) (time.Time, time.Duration) {
	var (
		d     time.Duration
		start time.Time
	)
	err := lab.Do(l.A, func() error {
		if err := pin(senderCPU); err != nil {
			return err
		}
		s, err := xdpgen.NewSender(lab.IfPair, xdpgen.SenderConfig{Frame: frame, Flows: uint32(flows)})
		if err != nil {
			return err
		}
		defer s.Close()
		start = time.Now()
		d, err = s.Send(uint32(n))
		return err
	})
	if err != nil {
		b.Fatalf("sending: %v", err)
	}
	return start, d
}

// ceilingPPS measures XDP_DROP on B's veth with the same sender.
func ceilingPPS(b *testing.B, l *lab.Lab, frame []byte, n int) float64 {
	c := attachCeiling(b, l.B, lab.IfPair)
	defer c.Close()
	_, d := send(b, l, frame, n, benchFlows)
	pkts, _, err := c.Read()
	if err != nil {
		b.Fatal(err)
	}
	if pkts < uint64(n)*99/100 {
		b.Fatalf("ceiling program counted %d of %d frames: the sender's frames do not arrive", pkts, n)
	}
	return float64(pkts) / d.Seconds()
}

// rxMode is one way of waiting for packets.
type rxMode struct {
	name string
	cfg  xsk.Config
	// idle is called when a receive finds nothing.
	idle func(s *xsk.Socket)
}

var rxModes = []rxMode{
	{name: "spin", idle: func(*xsk.Socket) {}},
	{name: "need_wakeup", cfg: xsk.Config{NeedWakeup: true}, idle: func(s *xsk.Socket) {
		if s.Fill.NeedWakeup() {
			_ = s.WakeRx()
		}
	}},
	{name: "busy_poll", cfg: xsk.Config{NeedWakeup: true, BusyPoll: xsk.BusyPoll{Prefer: true, Timeout: 20 * time.Microsecond, Budget: 64}}, idle: func(s *xsk.Socket) {
		_ = s.WakeRx()
	}},
	{name: "poll", cfg: xsk.Config{NeedWakeup: true}, idle: func(s *xsk.Socket) {
		_, _ = s.Poll(100 * time.Millisecond)
	}},
}

// defaultRxMode is how Tandem's sockets wait by default (the config's
// busy_poll.idle_fallback = need_wakeup): chosen from BenchmarkRxModes, where
// it had the highest median of the four (docs/performance.md).
const defaultRxMode = 1

// BenchmarkRxDrop receives 64-byte frames through the steering program into
// an AF_XDP socket in the default mode and drops them (the frames go straight
// back to the fill ring), against the XDP_DROP ceiling on the same veth with
// the same sender. One iteration is one frame.
func BenchmarkRxDrop(b *testing.B) { benchRxDrop(b, rxModes[defaultRxMode]) }

// BenchmarkRxModes is RxDrop in each way of waiting for packets, to choose
// the default from numbers.
func BenchmarkRxModes(b *testing.B) {
	for _, m := range rxModes {
		b.Run(m.name, func(b *testing.B) { benchRxDrop(b, m) })
	}
}

func benchRxDrop(b *testing.B, m rxMode) {
	l := benchPair(b)
	frame := template(b, l)
	n := max(b.N, 1000)

	ceiling := ceilingPPS(b, l, frame, n)

	// The receiver: steering on B's veth, one socket, a worker on the
	// receiver CPU that recycles every frame to the fill ring.
	var (
		steer *xdp.Steering
		umem  *xsk.UMEM
		sock  *xsk.Socket
	)
	cfg := m.cfg
	cfg.TxSize, cfg.RxSize, cfg.FillSize = -1, envInt("RXDROP_RING", 4096), envInt("RXDROP_FILL", 4096)
	posted, batch := envInt("RXDROP_POSTED", 2048), envInt("RXDROP_BATCH", 64)
	err := lab.Do(l.B, func() (err error) {
		if steer, err = xdp.NewSteering(4); err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(lab.IfPair)
		if err != nil {
			return err
		}
		if _, err := steer.Attach(lab.IfPair, xdp.AttachNative); err != nil {
			return err
		}
		if err := steer.SetInterface(ifi.Index, xdp.InterfaceConfig{Flags: xdp.SteerData}); err != nil {
			return err
		}
		if umem, err = xsk.NewUMEM(xsk.UMEMConfig{FrameCount: uint32(max(8192, 2*posted))}); err != nil {
			return err
		}
		if sock, err = xsk.Open(umem, lab.IfPair, 0, cfg); err != nil {
			return err
		}
		return steer.Register(0, sock.FD())
	})
	if err != nil {
		b.Fatalf("receiver: %v", err)
	}
	defer umem.Close()
	defer sock.Close()
	defer steer.Close()

	var (
		received atomic.Uint64
		lastRx   atomic.Int64 // unix ns of the last batch
		stop     atomic.Bool
		ready    = make(chan error, 1)
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		if err := pin(receiverCPU); err != nil {
			ready <- err
			return
		}
		fl := xsk.NewFreeList(umem, 0, umem.FrameCount())
		// Half the fill ring (RXDROP_POSTED): the kernel publishes its fill
		// consumer index only when it has used up the entries it last read;
		// whether a full ring costs drops was tested and not shown
		// (docs/performance.md).
		addrs := make([]uint64, posted)
		k := fl.Get(addrs)
		sock.Fill.Produce(addrs[:k])
		ready <- nil
		descs := make([]xsk.Desc, batch)
		recycle := make([]uint64, batch)
		var count uint64
		for !stop.Load() {
			got := sock.Rx.Receive(descs)
			if got == 0 {
				m.idle(sock)
				continue
			}
			for i := 0; i < got; i++ {
				recycle[i] = descs[i].Addr
			}
			for put := 0; put < got; {
				put += sock.Fill.Produce(recycle[put:got])
			}
			count += uint64(got)
			received.Store(count)
			if count&0xfff < uint64(got) { // a clock read every 4096 frames, not per batch
				lastRx.Store(time.Now().UnixNano())
			}
		}
	}()
	if err := <-ready; err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start, sendDur := send(b, l, frame, n, benchFlows)
	// Wait for the receiver to drain what is in flight.
	for prev := uint64(0); ; {
		time.Sleep(20 * time.Millisecond)
		cur := received.Load()
		if cur >= uint64(n) || cur == prev {
			break
		}
		prev = cur
	}
	stop.Store(true)
	<-done
	b.StopTimer()

	got := received.Load()
	elapsed := time.Duration(lastRx.Load() - start.UnixNano())
	if elapsed < sendDur {
		elapsed = sendDur
	}
	pps := float64(got) / elapsed.Seconds()
	st, _ := sock.Stats()
	b.ReportMetric(pps, "pps")
	b.ReportMetric(ceiling, "ceiling-pps")
	b.ReportMetric(pps/ceiling, "ratio-to-ceiling")
	b.ReportMetric(float64(uint64(n)-min(got, uint64(n)))/float64(n), "loss-ratio")
	b.ReportMetric(0, "ns/op")
	if got < uint64(n)/2 {
		b.Errorf("received %d of %d frames (socket stats %+v)", got, n, st)
	}
	b.Logf("%s: %d frames, %.2f Mpps vs ceiling %.2f Mpps (ratio %.2f); sender cpu %d, receiver cpu %d; stats %+v",
		m.name, n, pps/1e6, ceiling/1e6, pps/ceiling, senderCPU, receiverCPU, st)
}

// BenchmarkTxOnly transmits 64-byte frames from an AF_XDP socket in copy
// mode; the peer counts arrivals with the XDP_DROP program. One iteration is
// one frame. Sub-benchmarks vary the tx budget (descriptors per kick).
func BenchmarkTxOnly(b *testing.B) {
	for _, budget := range []int{32, 256} {
		b.Run(fmt.Sprintf("budget%d", budget), func(b *testing.B) { benchTxOnly(b, budget) })
	}
}

func benchTxOnly(b *testing.B, budget int) {
	l := benchPair(b)
	frame := template(b, l)
	n := max(b.N, 1000)

	c := attachCeiling(b, l.B, lab.IfPair)
	defer c.Close()

	var (
		umem *xsk.UMEM
		sock *xsk.Socket
	)
	const ring = 2048
	err := lab.Do(l.A, func() (err error) {
		if umem, err = xsk.NewUMEM(xsk.UMEMConfig{FrameCount: 2 * ring}); err != nil {
			return err
		}
		sock, err = xsk.Open(umem, lab.IfPair, 0, xsk.Config{RxSize: -1, TxSize: ring, CompletionSize: ring, TxBudget: budget})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	defer umem.Close()
	defer sock.Close()

	// Every frame of the UMEM carries the template; frames cycle through
	// tx and completion with their content untouched.
	fl := xsk.NewFreeList(umem, 0, umem.FrameCount())
	for i := uint32(0); i < umem.FrameCount(); i++ {
		copy(umem.Bytes(umem.FrameAddr(i)+uint64(umem.TxHeadroom()), frameSize), frame)
	}
	var elapsed time.Duration
	done := make(chan error, 1)
	go func() {
		if err := pin(senderCPU); err != nil {
			done <- err
			return
		}
		const batch = 256
		addrs := make([]uint64, batch)
		descs := make([]xsk.Desc, batch)
		sent, completed := 0, 0
		start := time.Now()
		for completed < n {
			if want := min(batch, n-sent); want > 0 {
				k := fl.Get(addrs[:want])
				for i := 0; i < k; i++ {
					descs[i] = xsk.Desc{Addr: addrs[i] + uint64(umem.TxHeadroom()), Len: frameSize}
				}
				put := sock.Tx.Transmit(descs[:k])
				fl.Put(addrs[put:k])
				sent += put
			}
			if err := sock.Kick(); err != nil {
				done <- err
				return
			}
			got := sock.Completion.Consume(addrs)
			fl.Put(addrs[:got])
			completed += got
		}
		elapsed = time.Since(start)
		done <- nil
	}()
	b.ResetTimer()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	time.Sleep(20 * time.Millisecond)
	arrived, _, err := c.Read()
	if err != nil {
		b.Fatal(err)
	}
	pps := float64(n) / elapsed.Seconds()
	b.ReportMetric(pps, "pps")
	b.ReportMetric(float64(arrived)/float64(n), "delivered-ratio")
	b.ReportMetric(0, "ns/op")
	st, _ := sock.Stats()
	b.Logf("tx budget %d: %d frames in %v, %.2f Mpps, %d arrived at the peer; sender cpu %d; stats %+v",
		budget, n, elapsed, pps/1e6, arrived, senderCPU, st)
	if arrived < uint64(n)*9/10 {
		b.Errorf("only %d of %d transmitted frames arrived", arrived, n)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
