package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/vishvananda/netlink"

	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/tools/lab"
)

type demoConfig struct {
	prefix    string
	datagrams int
	rate      int // datagrams per second the client sends, in all
	keep      bool
}

const (
	demoQueues   = 2
	ccpSlotBase  = 16
	demoCCPCount = 10000
	demoPort     = 5000
	demoSenders  = 8 // client sockets, so flows spread over gw1's queues
)

// demoSocket is one AF_XDP socket of gw1 and what its worker counted.
type demoSocket struct {
	role    string
	sock    *xsk.Socket
	free    *xsk.FreeList
	packets atomic.Uint64
	bytes   atomic.Uint64
}

func runDemo(cfg demoConfig) (err error) {
	start := time.Now()
	fmt.Printf("Tandem demo: building lab %q (client, lan, gw1, gw2, wan, server; %d queues per gateway link)\n", cfg.prefix, demoQueues)
	l, err := lab.Up(lab.Config{Prefix: cfg.prefix, Queues: demoQueues})
	if err != nil {
		return err
	}
	if !cfg.keep {
		defer func() {
			if derr := l.Down(); derr != nil {
				err = errors.Join(err, derr)
			} else {
				fmt.Printf("lab %q removed\n", cfg.prefix)
			}
		}()
	}

	// gw1: the steering program on in0 (data) and sync0 (CCP), one UMEM
	// shared by three sockets.
	var (
		steer   *xdp.Steering
		umem    *xsk.UMEM
		sockets []*demoSocket
		modes   = map[string]xdp.AttachMode{}
	)
	err = lab.Do(l.GW1, func() error {
		var err error
		if steer, err = xdp.NewSteering(32); err != nil {
			return err
		}
		ifaces := []struct {
			name   string
			queues int
			flags  uint32
		}{{lab.IfInside, demoQueues, xdp.SteerData}, {lab.IfSync, 1, xdp.SteerCCP}}
		const framesPerSocket = 4096
		if umem, err = xsk.NewUMEM(xsk.UMEMConfig{FrameCount: framesPerSocket * (demoQueues + 1)}); err != nil {
			return err
		}
		for _, ifc := range ifaces {
			ifi, err := net.InterfaceByName(ifc.name)
			if err != nil {
				return err
			}
			if modes[ifc.name], err = steer.Attach(ifc.name, xdp.AttachAuto); err != nil {
				return err
			}
			if err := steer.SetInterface(ifi.Index, xdp.InterfaceConfig{DataBase: 0, CCPBase: ccpSlotBase, Flags: ifc.flags}); err != nil {
				return err
			}
			for q := 0; q < ifc.queues; q++ {
				s, err := xsk.Open(umem, ifc.name, uint32(q), xsk.Config{TxSize: -1, RxSize: 4096, FillSize: 4096, NeedWakeup: true})
				if err != nil {
					return err
				}
				slot, role := uint32(q), "data"
				if ifc.flags == xdp.SteerCCP {
					slot, role = ccpSlotBase+uint32(q), "ccp"
				}
				if err := steer.Register(slot, s.FD()); err != nil {
					return err
				}
				ds := &demoSocket{role: role, sock: s, free: xsk.NewFreeList(umem, uint32(len(sockets))*framesPerSocket, framesPerSocket)}
				// Prime the fill ring before any traffic can arrive.
				addrs := make([]uint64, framesPerSocket)
				n := ds.free.Get(addrs)
				if put := s.Fill.Produce(addrs[:n]); put != n {
					return fmt.Errorf("priming fill ring of %s q%d: %d of %d frames", ifc.name, q, put, n)
				}
				sockets = append(sockets, ds)
			}
		}
		return nil
	})
	defer func() {
		for _, s := range sockets {
			s.sock.Close()
		}
		if umem != nil {
			umem.Close()
		}
		if steer != nil {
			steer.Close()
		}
	}()
	if err != nil {
		return fmt.Errorf("setting up gw1: %w", err)
	}
	fmt.Printf("gw1: steering attached to %s (%s) and %s (%s); %d AF_XDP sockets on one %s UMEM\n",
		lab.IfInside, modes[lab.IfInside], lab.IfSync, modes[lab.IfSync], len(sockets), humanize.IBytes(uint64(umem.Size())))

	// Workers: receive, count, give the frames back to the kernel.
	var (
		stop sync.WaitGroup
		quit atomic.Bool
	)
	for _, s := range sockets {
		stop.Add(1)
		go func() {
			defer stop.Done()
			runWorker(s, &quit)
		}()
	}

	// Traffic: UDP datagrams from the client to gw1's inside address over
	// the lan bridge, and CCP datagrams from gw2 over the sync link.
	sendStart := time.Now()
	var sendErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := udpFlood(l.Client, netip.AddrPortFrom(lab.GW1Inside, demoPort), cfg.datagrams, cfg.rate, demoSenders); err != nil {
			sendErr = errors.Join(sendErr, fmt.Errorf("client traffic: %w", err))
		}
	}()
	go func() {
		defer wg.Done()
		if err := udpFlood(l.GW2, netip.AddrPortFrom(lab.GW1Sync, xdp.CCPPort), demoCCPCount, cfg.rate/10, 1); err != nil {
			sendErr = errors.Join(sendErr, fmt.Errorf("ccp traffic: %w", err))
		}
	}()
	wg.Wait()
	sendDur := time.Since(sendStart)
	if sendErr != nil {
		quit.Store(true)
		stop.Wait()
		return sendErr
	}
	// Let in-flight frames land, then stop the workers.
	want := uint64(cfg.datagrams + demoCCPCount)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if total(sockets) >= want {
			break
		}
	}
	quit.Store(true)
	stop.Wait()

	ifDrops := map[string]uint64{}
	err = lab.Do(l.GW1, func() error {
		for _, name := range []string{lab.IfInside, lab.IfSync} {
			link, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if st := link.Attrs().Statistics; st != nil {
				ifDrops[name] = st.RxDropped
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading gw1's interface counters: %w", err)
	}
	return report(cfg, sockets, steer, ifDrops, sendDur, time.Since(start))
}

func total(sockets []*demoSocket) uint64 {
	var n uint64
	for _, s := range sockets {
		n += s.packets.Load()
	}
	return n
}

// runWorker drives one socket until quit: fill, receive, recycle. It sleeps in
// poll() whenever the rx ring is empty: on a 2-core machine whose cores also
// run the senders, spinning workers would starve them (the engine's workers
// spin only on cores of their own).
func runWorker(s *demoSocket, quit *atomic.Bool) {
	addrs := make([]uint64, 64)
	descs := make([]xsk.Desc, 64)
	for !quit.Load() {
		got := s.sock.Rx.Receive(descs)
		if got == 0 {
			if s.sock.Fill.NeedWakeup() {
				_ = s.sock.WakeRx()
			}
			_, _ = s.sock.Poll(5 * time.Millisecond)
			continue
		}
		var bytes uint64
		for i := 0; i < got; i++ {
			addrs[i] = descs[i].Addr
			bytes += uint64(descs[i].Len)
		}
		for put := 0; put < got; {
			put += s.sock.Fill.Produce(addrs[put:got])
		}
		s.packets.Add(uint64(got))
		s.bytes.Add(bytes)
	}
}

// udpFlood sends count datagrams from namespace ns to dst over senders
// sockets (distinct source ports), rate datagrams per second in all.
func udpFlood(ns string, dst netip.AddrPort, count, rate, senders int) error {
	perSender := time.Duration(float64(time.Second) * float64(senders) / float64(max(rate, 1)))
	var wg sync.WaitGroup
	errs := make([]error, senders)
	for i := 0; i < senders; i++ {
		share := count / senders
		if i == 0 {
			share += count % senders
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = lab.Do(ns, func() error {
				c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
				if err != nil {
					return err
				}
				defer c.Close()
				payload := make([]byte, 18) // 64-byte frames
				begin := time.Now()
				for k := 0; k < share; k++ {
					if _, err := c.Write(payload); err != nil {
						return err
					}
					if k%8 == 7 {
						// Pace in bursts of 8 to the sender's share of the rate.
						if ahead := time.Until(begin.Add(time.Duration(k+1) * perSender)); ahead > 0 {
							time.Sleep(ahead)
						}
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// report prints what gw1 received and checks that every datagram sent is
// accounted for: received, or counted as dropped by the socket or by the
// interface (a veth drops before XDP when its per-queue ring of 256 frames
// overflows, which a CPU-starved receiver causes).
func report(cfg demoConfig, sockets []*demoSocket, steer *xdp.Steering, ifDrops map[string]uint64, sendDur, runDur time.Duration) error {
	fmt.Printf("\ntraffic: %s datagrams client → gw1 %s:%d, %s CCP datagrams gw2 → gw1 %s:%d, sent in %v\n\n",
		humanize.Comma(int64(cfg.datagrams)), lab.GW1Inside, demoPort, humanize.Comma(demoCCPCount), lab.GW1Sync, xdp.CCPPort, sendDur.Round(time.Millisecond))
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "socket\trole\tmode\tpackets\tbytes\trate\trx_dropped\trx_invalid\trx_ring_full\tfill_empty\t")
	var data, ccp, sockDrops uint64
	var problems []string
	for _, s := range sockets {
		st, err := s.sock.Stats()
		if err != nil {
			return err
		}
		p := s.packets.Load()
		if s.role == "data" {
			data += p
			sockDrops += st.RxDropped
		} else {
			ccp += p
		}
		fmt.Fprintf(w, "%s q%d\t%s\t%s\t%s\t%s\t%s pps\t%s\t%s\t%s\t%s\t\n",
			s.sock.Interface(), s.sock.Queue(), s.role, s.sock.Mode(),
			humanize.Comma(int64(p)), humanize.Bytes(s.bytes.Load()), humanize.Comma(int64(float64(p)/sendDur.Seconds())),
			humanize.Comma(int64(st.RxDropped)), humanize.Comma(int64(st.RxInvalidDescs)),
			humanize.Comma(int64(st.RxRingFull)), humanize.Comma(int64(st.FillRingEmptyDescs)))
		if st.RxInvalidDescs != 0 {
			problems = append(problems, fmt.Sprintf("%s q%d: %d invalid descriptors", s.sock.Interface(), s.sock.Queue(), st.RxInvalidDescs))
		}
	}
	w.Flush()

	counters, err := steer.ReadCounters()
	if err != nil {
		return err
	}
	fmt.Printf("\nhanded to gw1's kernel by the steering program:")
	for i, v := range counters {
		if i == xdp.CountCCP {
			continue
		}
		fmt.Printf(" %s=%s", xdp.CounterName(i), humanize.Comma(int64(v)))
	}
	fmt.Printf("\nccp steered: %s\n", humanize.Comma(int64(counters[xdp.CountCCP])))

	fmt.Printf("interface rx drops on gw1 (before XDP): %s=%s %s=%s\n",
		lab.IfInside, humanize.Comma(int64(ifDrops[lab.IfInside])), lab.IfSync, humanize.Comma(int64(ifDrops[lab.IfSync])))

	fmt.Printf("\nreceived %s of %s datagrams on the data sockets, %s of %s on the CCP socket (%v in all)\n",
		humanize.Comma(int64(data)), humanize.Comma(int64(cfg.datagrams)), humanize.Comma(int64(ccp)), humanize.Comma(demoCCPCount), runDur.Round(time.Millisecond))
	// ARP, ND and the like also cross in0 and may be among its drops, so
	// the sum may exceed what the client sent, never fall short of it.
	if accounted := data + sockDrops + ifDrops[lab.IfInside]; accounted < uint64(cfg.datagrams) {
		problems = append(problems, fmt.Sprintf("%d data datagrams unaccounted for", uint64(cfg.datagrams)-accounted))
	} else if data < uint64(cfg.datagrams) {
		fmt.Printf("warning: %d datagrams dropped and counted (the cores were too busy for the offered %d pps: try a lower -rate)\n",
			uint64(cfg.datagrams)-data, cfg.rate)
	}
	if ccp+ifDrops[lab.IfSync] < demoCCPCount {
		problems = append(problems, fmt.Sprintf("ccp socket received %d of %d", ccp, demoCCPCount))
	}
	if counters[xdp.CountPassNonIP] == 0 {
		problems = append(problems, "no ARP reached gw1's kernel")
	}
	if len(problems) > 0 {
		return fmt.Errorf("demo traffic incomplete: %v", problems)
	}
	fmt.Println("demo: OK")
	return nil
}
