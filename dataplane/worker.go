package dataplane

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/nexthop"
	"github.com/tandem-gw/tandem/dataplane/packet"
	"github.com/tandem-gw/tandem/dataplane/xsk"
)

const (
	inside  = 0
	outside = 1

	batchSize = 256 // frames per receive: one tx kick serves a whole batch
	// icmpPerSecond bounds the ICMP errors one worker sends (RFC 1812
	// 4.3.2.8 asks for a limit).
	icmpPerSecond = 1000
)

// hopCacheSize is the number of next hops a worker remembers (a power of
// two): direct-mapped by destination, valid for one mirror generation.
const hopCacheSize = 256

type hopEntry struct {
	gen uint64 // mirror generation; 0: empty
	dst [16]byte
	out int
	mac [6]byte
}

func hopSlot(dst *[16]byte) int {
	return int((dst[12] ^ dst[13]<<1 ^ dst[14]<<2 ^ dst[15] ^ dst[7]) & (hopCacheSize - 1))
}

// side is one of a worker's two interfaces.
type side struct {
	name                                         string
	sock                                         *xsk.Socket
	ifindex                                      int
	mac                                          [6]byte
	addr4                                        [16]byte // this gateway's address here, v4-mapped; zero: none
	addr6                                        [16]byte
	tx                                           []xsk.Desc // queued for transmission in this batch
	inFlight                                     int        // transmitted, completion not yet seen
	countRx, countRxBytes, countTx, countTxBytes int
}

// worker forwards the packets of one queue of both interfaces. Everything in
// it belongs to its own goroutine except stop and pub.
type worker struct {
	id     int
	core   int // -1: not pinned
	umem   *xsk.UMEM
	free   *xsk.FreeList
	sides  [2]side
	table  *conntrack.Table
	mirror *nexthop.Mirror
	policy *Policy
	raw    *rawSender

	idleSpins    int
	spinWhenIdle bool
	nice         int

	p     packet.Parsed
	rx    []xsk.Desc
	addrs []uint64
	c     Counters

	icmpSecond int64
	icmpSent   int

	hops [hopCacheSize]hopEntry // recent next hops, by destination

	pollFds [2]unix.PollFd

	stop atomic.Bool
	pub  published
}

// run is the worker's loop. It reports on ready whether its thread is set
// up (pinned, its nice value set), then, if it is, forwards until stop is
// set. The thread stays locked: pinned and reprioritised, it must not go
// back to the runtime's pool, and it ends with the goroutine.
func (w *worker) run(ready chan<- error) {
	runtime.LockOSThread()
	if err := w.setUpThread(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	w.loop()
}

// setUpThread pins the calling thread to the worker's core and gives it
// the worker's nice value.
func (w *worker) setUpThread() error {
	if w.core >= 0 {
		var set unix.CPUSet
		set.Set(w.core)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("worker %d: pinning to core %d: %w", w.id, w.core, err)
		}
	}
	if w.nice != 0 {
		// PRIO_PROCESS with who 0 is the calling thread on Linux. A nice
		// value below the current one needs CAP_SYS_NICE (or RLIMIT_NICE).
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, w.nice); err != nil {
			return fmt.Errorf("worker %d: setting nice %d (below 0 needs CAP_SYS_NICE): %w", w.id, w.nice, err)
		}
	}
	return nil
}

// loop is the worker's forwarding loop. It returns when stop is set.
func (w *worker) loop() {
	for i := range w.sides {
		w.pollFds[i] = unix.PollFd{Fd: int32(w.sides[i].sock.FD()), Events: unix.POLLIN}
	}
	idle := 0
	for !w.stop.Load() {
		work := 0
		for i := range w.sides {
			w.refill(i)
			work += w.receive(i)
		}
		for i := range w.sides {
			work += w.flush(i)
		}
		if work > 0 {
			w.pub.publish(&w.c) // release: readers see this batch's counts
			idle = 0
			continue
		}
		idle++
		if idle > w.idleSpins && !w.spinWhenIdle && w.sides[inside].inFlight == 0 && w.sides[outside].inFlight == 0 {
			// Idle: sleep until a socket has packets (or 10 ms pass, to see
			// stop).
			_, _ = unix.Poll(w.pollFds[:], 10)
		}
	}
	w.pub.publish(&w.c)
}

// refill keeps side i's fill ring stocked from the free list.
func (w *worker) refill(i int) {
	s := &w.sides[i]
	room := s.sock.Fill.Free()
	if room < batchSize {
		return
	}
	n := w.free.Get(w.addrs[:min(room, len(w.addrs))])
	if n > 0 {
		put := s.sock.Fill.Produce(w.addrs[:n])
		w.free.Put(w.addrs[put:n])
	}
	if s.sock.NeedWakeup() && s.sock.Fill.NeedWakeup() {
		_ = s.sock.WakeRx()
	}
}

// receive takes one batch from side i through the pipeline.
func (w *worker) receive(i int) int {
	s := &w.sides[i]
	n := s.sock.Rx.Receive(w.rx)
	for k := 0; k < n; k++ {
		d := w.rx[k]
		w.c[s.countRx]++
		w.c[s.countRxBytes] += uint64(d.Len)
		// The frame from the packet on: room for an ICMP error built in place.
		room := w.umem.FrameSize() - uint32(d.Addr-w.umem.FrameBase(d.Addr))
		buf := w.umem.Bytes(d.Addr, room)
		if buf == nil || d.Len > room {
			w.c[CountDropBadDescriptor]++
			w.dropFrame(d.Addr)
			continue
		}
		out, length := w.forward(i, buf, int(d.Len))
		if out < 0 {
			w.dropFrame(d.Addr)
			continue
		}
		w.sides[out].tx = append(w.sides[out].tx, xsk.Desc{Addr: d.Addr, Len: uint32(length)})
	}
	return n
}

func (w *worker) dropFrame(addr uint64) {
	w.addrs[0] = addr
	w.free.Put(w.addrs[:1])
}

// flush transmits what the batch queued on side i, kicks the kernel, and
// takes completed frames back.
func (w *worker) flush(i int) int {
	s := &w.sides[i]
	work := 0
	if len(s.tx) > 0 {
		put := s.sock.Tx.Transmit(s.tx)
		for _, d := range s.tx[:put] {
			w.c[s.countTx]++
			w.c[s.countTxBytes] += uint64(d.Len)
		}
		for _, d := range s.tx[put:] {
			w.c[CountDropTxFull]++
			w.dropFrame(d.Addr)
		}
		w.c[CountForwarded] += uint64(put)
		s.inFlight += put
		s.tx = s.tx[:0]
		work += put
	}
	if s.inFlight > 0 {
		// Copy mode sends at most the tx budget per kick: kick while the
		// ring holds descriptors the kernel has not taken. Zero-copy needs a
		// kick only when asked.
		if s.sock.Mode() == xsk.ModeCopy && s.sock.Tx.Pending() > 0 || s.sock.Tx.NeedWakeup() {
			_ = s.sock.Kick()
		}
		n := s.sock.Completion.Consume(w.addrs)
		if n > 0 {
			w.free.Put(w.addrs[:n])
			s.inFlight -= n
			work += n
		}
	}
	return work
}

// forward runs the pipeline on the frame in buf[:n]. It returns the side to
// transmit on and the frame's length, or -1 with the drop counted.
func (w *worker) forward(in int, buf []byte, n int) (int, int) {
	frame := buf[:n]
	p := &w.p
	if r := p.Decode(frame); r != packet.DropNone {
		w.c[countDecodeBase+int(r)]++
		return -1, 0
	}
	if p.Class != packet.ClassIPv4 && p.Class != packet.ClassIPv6 {
		w.c[CountDropNotIP]++
		return -1, 0
	}
	if isMulticast(p.Dst) {
		w.c[CountDropMulticast]++
		return -1, 0
	}
	if p.Flags&packet.FlagLaterFragment != 0 {
		w.c[CountDropFragment]++
		return -1, 0
	}
	related := p.Flags&packet.FlagICMPError != 0
	// A router checks the TTL before anything else, and quotes the packet
	// as it arrived.
	if p.TTL <= 1 {
		w.c[CountDropTTL]++
		if l := w.timeExceeded(in, buf, frame); l > 0 {
			return in, l
		}
		return -1, 0
	}
	if related {
		if !w.policy.AllowRelated || !w.relate(frame, p) {
			w.c[CountDropICMPError]++
			return -1, 0
		}
		w.c[CountRelated]++
		return w.route(frame, p, n)
	}
	key, seg, ok := flowOf(p, frame)
	if !ok {
		w.c[CountDropProtocol]++
		return -1, 0
	}
	var res conntrack.Result
	if in == inside && w.policy.AllowFromInside {
		// Every connection from the inside is allowed: one call finds or
		// creates it.
		nat, _ := w.policy.decide(w.table, SideInside, &key, netip.Addr{}, netip.Addr{})
		res = w.table.Track(key, seg, nat)
	} else if r, known := w.table.TrackKnown(key, seg); known {
		res = r // one lookup for packets of known connections
	} else {
		from := SideOutside
		if in == inside {
			from = SideInside
		}
		src, dst := netip.AddrFrom16(p.Src).Unmap(), netip.AddrFrom16(p.Dst).Unmap()
		nat, allowed := w.policy.decide(w.table, from, &key, src, dst)
		if !allowed {
			w.c[CountDropPolicy]++
			return -1, 0
		}
		res = w.table.Track(key, seg, nat)
	}
	if res.Verdict != conntrack.Accept {
		w.c[conntrackDrop(res.Verdict)]++
		return -1, 0
	}
	if res.New {
		w.c[CountNewConnections]++
	}
	if res.Rewrite.Op != conntrack.RewriteNone {
		applyRewrite(frame, p, res.Rewrite)
		w.c[CountNATed]++
	}
	return w.route(frame, p, n)
}

// route sends the translated packet on its way: TTL, next hop, MACs. It
// returns the side to transmit on, or -1 with the drop counted.
func (w *worker) route(frame []byte, p *packet.Parsed, n int) (int, int) {
	packet.DecrementTTL(frame, p) // TTL > 1: cannot fail

	gen := w.mirror.Generation()
	if e := &w.hops[hopSlot(&p.Dst)]; e.gen == gen && e.dst == p.Dst {
		copy(frame[0:6], e.mac[:])
		copy(frame[6:12], w.sides[e.out].mac[:])
		return e.out, n
	}
	hop, ok := w.mirror.Route(p.Dst)
	if !ok {
		w.c[CountDropNoRoute]++
		return -1, 0
	}
	out := -1
	for i := range w.sides {
		if w.sides[i].ifindex == hop.Ifindex {
			out = i
		}
	}
	if out < 0 {
		w.c[CountDropEgress]++
		return -1, 0
	}
	mac, ok := w.mirror.Neighbor(hop.Ifindex, hop.Gateway)
	if !ok {
		// Hand the packet, translated and with its TTL spent, to the
		// kernel: it queues it on its neighbour entry, resolves the
		// address and sends it; the mirror then learns the neighbour.
		if w.raw.send(p.Family, frame[p.L3Off:p.End], p.Dst) {
			w.c[CountToKernel]++
		} else {
			w.mirror.Resolve(hop.Ifindex, hop.Gateway)
			w.c[CountDropNoNeighbor]++
		}
		return -1, 0
	}
	copy(frame[0:6], mac[:])
	copy(frame[6:12], w.sides[out].mac[:])
	w.hops[hopSlot(&p.Dst)] = hopEntry{gen: gen, dst: p.Dst, out: out, mac: mac}
	return out, n
}

// relate finds the connection an ICMP error is about and translates the
// error as the connection is translated: the error's outer header like a
// packet of that connection in the error's direction, the quoted packet
// back to how it left the gateway. It reports whether the connection is
// known. As netfilter does, it looks up the quoted tuple reversed: that is
// the tuple of a packet travelling the way the error travels.
func (w *worker) relate(frame []byte, p *packet.Parsed) bool {
	in := &p.Inner
	var src, dst [16]byte
	family := uint8(conntrack.FamilyIPv6)
	if in.Family == 4 {
		family = conntrack.FamilyIPv4
		copy(src[:4], in.Dst[12:]) // reversed
		copy(dst[:4], in.Src[12:])
	} else {
		src, dst = in.Dst, in.Src
	}
	var key conntrack.Key
	switch in.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		key = conntrack.MakeKey(family, in.Proto, src, dst, in.DstPort, in.SrcPort)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		// The quote is an echo request (or reply); reversed, it is the other.
		reply := in.ICMPType == packet.ICMPEchoRequest || in.ICMPType == packet.ICMPv6EchoRequest
		key = conntrack.MakeICMPKey(family, in.Proto, src, dst, in.ICMPID, reply)
	default:
		return false
	}
	_, dir, ok := w.table.Lookup(key)
	if !ok {
		return false
	}
	rec, ok := w.table.Get(key)
	if !ok {
		return false
	}
	icmpInner := in.Proto == packet.ProtoICMP || in.Proto == packet.ProtoICMPv6
	origSrc, origDst := rec.Key.Src, rec.Key.Dst
	switch {
	case rec.NAT == conntrack.NATSource && dir == conntrack.DirReply:
		// Towards the translated source: restore the original.
		setOuter(frame, p, false, origSrc)
		setInner(frame, p, true, origSrc, rec.Key.SrcPort, icmpInner)
	case rec.NAT == conntrack.NATSource:
		// From the inside: hide the inside source as the SNAT address.
		setOuter(frame, p, true, rec.NATAddr)
		setInner(frame, p, false, rec.NATAddr, rec.NATPort, icmpInner)
	case rec.NAT == conntrack.NATDestination && dir == conntrack.DirOriginal:
		setOuter(frame, p, false, rec.NATAddr)
		setInner(frame, p, true, rec.NATAddr, rec.NATPort, icmpInner)
	case rec.NAT == conntrack.NATDestination:
		setOuter(frame, p, true, origDst)
		setInner(frame, p, false, origDst, rec.Key.DstPort, icmpInner)
	}
	return true
}

// setOuter sets the error's own source (src true) or destination to a, an
// address as conntrack holds it (IPv4 in the first 4 bytes).
func setOuter(frame []byte, p *packet.Parsed, src bool, a [16]byte) {
	switch {
	case p.Family == 4 && src:
		packet.SetIPv4Src(frame, p, [4]byte(a[:4]))
	case p.Family == 4:
		packet.SetIPv4Dst(frame, p, [4]byte(a[:4]))
	case src:
		packet.SetSrcAddr(frame, p, a)
	default:
		packet.SetDstAddr(frame, p, a)
	}
}

// setInner sets the quoted packet's source (src true) or destination
// address and port (or ICMP identifier).
func setInner(frame []byte, p *packet.Parsed, src bool, a [16]byte, port uint16, icmp bool) {
	if p.Inner.Family == 4 {
		a = packet.Addr4([4]byte(a[:4]))
	}
	if src {
		packet.SetInnerSrcAddr(frame, p, a)
		if icmp {
			packet.SetInnerICMPID(frame, p, port)
		} else {
			packet.SetInnerSrcPort(frame, p, port)
		}
		return
	}
	packet.SetInnerDstAddr(frame, p, a)
	if icmp {
		packet.SetInnerICMPID(frame, p, port)
	} else {
		packet.SetInnerDstPort(frame, p, port)
	}
}

// timeExceeded turns the frame in buf into an ICMP time exceeded for its
// sender, in place, and returns its length (0: none may or can be sent).
func (w *worker) timeExceeded(in int, buf, frame []byte) int {
	s := &w.sides[in]
	e := packet.ICMPError{DstMAC: w.p.SrcMAC, SrcMAC: s.mac, VLANID: w.p.VLANID}
	if w.p.Family == 4 {
		e.Src, e.Type = s.addr4, packet.ICMPTimeExceeded
	} else {
		e.Src, e.Type = s.addr6, packet.ICMPv6TimeExceeded
	}
	if e.Src == ([16]byte{}) || !w.icmpAllowed() {
		return 0
	}
	l := packet.BuildICMPError(buf, frame, &w.p, &e)
	if l > 0 {
		w.c[CountICMPSent]++
	}
	return l
}

// icmpAllowed spends one of this second's ICMP errors.
func (w *worker) icmpAllowed() bool {
	now := time.Now().Unix()
	if now != w.icmpSecond {
		w.icmpSecond, w.icmpSent = now, 0
	}
	if w.icmpSent >= icmpPerSecond {
		return false
	}
	w.icmpSent++
	return true
}

// isMulticast reports whether a (v4-mapped for IPv4) is a multicast
// address: 224.0.0.0/4 or ff00::/8.
func isMulticast(a [16]byte) bool {
	if packet.Is4(a) {
		return a[12]&0xf0 == 0xe0
	}
	return a[0] == 0xff
}

// flowOf builds the conntrack key and TCP segment of a decoded packet.
// conntrack keeps IPv4 addresses in the first 4 bytes; packet decodes them
// v4-mapped.
func flowOf(p *packet.Parsed, frame []byte) (conntrack.Key, conntrack.Segment, bool) {
	var src, dst [16]byte
	family := uint8(conntrack.FamilyIPv6)
	if p.Family == 4 {
		family = conntrack.FamilyIPv4
		copy(src[:4], p.Src[12:])
		copy(dst[:4], p.Dst[12:])
	} else {
		src, dst = p.Src, p.Dst
	}
	var seg conntrack.Segment
	if p.Flags&packet.FlagL4 == 0 {
		return conntrack.Key{}, seg, false
	}
	switch p.Proto {
	case packet.ProtoTCP:
		seg = conntrack.Segment{
			Seq: p.Seq, Ack: p.Ack, Window: p.Window, Flags: p.TCPFlags,
			PayloadLen: p.End - p.PayloadOff, WScale: conntrack.NoWScale,
		}
		if p.TCPFlags&packet.TCPSyn != 0 {
			seg.WScale = windowScale(p.TCPOptions(frame))
		}
		return conntrack.MakeKey(family, p.Proto, src, dst, p.SrcPort, p.DstPort), seg, true
	case packet.ProtoUDP:
		return conntrack.MakeKey(family, p.Proto, src, dst, p.SrcPort, p.DstPort), seg, true
	case packet.ProtoICMP:
		switch p.ICMPType {
		case packet.ICMPEchoRequest, packet.ICMPEchoReply:
			return conntrack.MakeICMPKey(family, p.Proto, src, dst, p.ICMPID, p.ICMPType == packet.ICMPEchoReply), seg, true
		}
	case packet.ProtoICMPv6:
		switch p.ICMPType {
		case packet.ICMPv6EchoRequest, packet.ICMPv6EchoReply:
			return conntrack.MakeICMPKey(family, p.Proto, src, dst, p.ICMPID, p.ICMPType == packet.ICMPv6EchoReply), seg, true
		}
	}
	return conntrack.Key{}, seg, false
}

// windowScale returns the window scale option of a SYN, or NoWScale.
func windowScale(opts []byte) uint8 {
	for i := 0; i < len(opts); {
		switch kind := opts[i]; kind {
		case 0: // end of options
			return conntrack.NoWScale
		case 1: // no-op
			i++
		default:
			if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
				return conntrack.NoWScale
			}
			if kind == 3 && opts[i+1] == 3 {
				return min(opts[i+2], 14)
			}
			i += int(opts[i+1])
		}
	}
	return conntrack.NoWScale
}

// applyRewrite applies a conntrack NAT rewrite with incremental checksums.
func applyRewrite(frame []byte, p *packet.Parsed, r conntrack.Rewrite) {
	icmp := p.Proto == packet.ProtoICMP || p.Proto == packet.ProtoICMPv6
	switch r.Op {
	case conntrack.RewriteSrc:
		if p.Family == 4 {
			packet.SetIPv4Src(frame, p, [4]byte(r.Addr[:4]))
		} else {
			packet.SetSrcAddr(frame, p, r.Addr)
		}
		if icmp {
			packet.SetICMPID(frame, p, r.Port)
		} else {
			packet.SetSrcPort(frame, p, r.Port)
		}
	case conntrack.RewriteDst:
		if p.Family == 4 {
			packet.SetIPv4Dst(frame, p, [4]byte(r.Addr[:4]))
		} else {
			packet.SetDstAddr(frame, p, r.Addr)
		}
		if icmp {
			packet.SetICMPID(frame, p, r.Port)
		} else {
			packet.SetDstPort(frame, p, r.Port)
		}
	}
}
