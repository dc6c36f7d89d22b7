package syncpath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-gw/tandem/dataplane/nexthop"
	"github.com/tandem-gw/tandem/dataplane/packet"
	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// Errors an XSKTransport's Send returns. They are sentinels (no allocation
// on the send path); the session counts them as send errors, and its
// retransmission tries again.
var (
	// ErrNeighbourUnresolved: the kernel's neighbour table has no usable
	// entry for the peer's sync address yet. Send has asked the kernel to
	// resolve it (ARP or neighbour discovery, which the steering program
	// passes to the kernel); a later Send finds it.
	ErrNeighbourUnresolved = errors.New("syncpath: the peer's MAC address is not resolved yet")
	// ErrNoPeer: no sync address is configured for the member.
	ErrNoPeer = errors.New("syncpath: no sync address configured for the member")
	// ErrFrameTooBig: the datagram does not fit the sync link's MTU.
	ErrFrameTooBig = errors.New("syncpath: datagram larger than the sync link MTU allows")
	// ErrTxBusy: every transmit frame is in flight (the kernel has not
	// completed them); the datagram was not sent.
	ErrTxBusy = errors.New("syncpath: transmit frames exhausted")
)

// XSKConfig configures an XSKTransport.
type XSKConfig struct {
	// Ifname is the sync interface. Required.
	Ifname string
	// Queue is the queue the socket binds (default 0). The sync interface
	// should have one queue: CCP arriving on another finds no socket and
	// goes to the kernel, which has no listener on the CCP port.
	Queue uint32
	// Local is this member's address on the sync interface and its CCP
	// port (port 0: ccp.UDPPort). Required.
	Local netip.AddrPort
	// Peers maps member ids to their sync addresses (port 0:
	// ccp.UDPPort), of Local's family. Frames from any other address are
	// dropped and counted.
	Peers map[uint8]netip.AddrPort
	// MTU is the sync link's MTU (default: the interface's). Above what
	// one UMEM frame holds (3840 bytes of packet) frames are sent and
	// received as multi-buffer descriptor chains (XDP_USE_SG).
	MTU int
	// Mode is the bind mode (default xsk.ModeAuto: zero-copy where the
	// driver offers it, copy otherwise, as on veth).
	Mode xsk.BindMode
	// Attach is how the steering program is attached (default
	// xdp.AttachAuto: native, else generic).
	Attach xdp.AttachMode
	// Poll is how long Receive waits for a frame when none is there
	// (default 1ms, like UDPTransport; negative: never wait).
	Poll time.Duration
	// RxFrames is the number of UMEM frames (4096 bytes each) given to
	// the kernel for receiving, and the size of the rx and fill rings (a
	// power of two). The default holds two retransmit windows (1024
	// frames each) of datagrams at the MTU: 2048 at MTU 1500, 8192 at
	// 9000, where a datagram takes three. Fewer, and a burst from the
	// peer finds the fill ring empty and is dropped.
	RxFrames uint32
	// TxFrames is the number of UMEM frames for transmitting, and the size
	// of the tx and completion rings (a power of two, default 2048).
	TxFrames uint32
	// Neighbours mirrors the kernel's neighbour table of the sync
	// interface's namespace, where peer MAC addresses are looked up (and
	// resolution asked for). nil: the transport starts a mirror of its own
	// and stops it on Close.
	Neighbours *nexthop.Mirror
}

// XSKStats are an XSKTransport's counters. Every received frame that is not
// returned by Receive is counted under exactly one drop reason.
type XSKStats struct {
	FramesSent, BytesSent         uint64 // datagrams sent, and their on-wire bytes (Ethernet header included, no FCS)
	FramesReceived, BytesReceived uint64 // datagrams returned by Receive, and their on-wire bytes

	SendNoPeer     uint64 // Send to a member without a configured address
	SendUnresolved uint64 // Send while the peer's MAC address was not resolved (ErrNeighbourUnresolved)
	SendTooBig     uint64 // Send of a datagram above the MTU
	SendBusy       uint64 // Send with every transmit frame in flight
	KickErrors     uint64 // transmit kicks the kernel refused

	DropMalformed uint64 // Ethernet/IP/UDP headers did not parse (packet.Parsed.Decode refused them)
	DropNotUDP    uint64 // IP but not a whole UDP datagram (another protocol, or a fragment)
	DropPort      uint64 // UDP to another port than Local's
	DropNotLocal  uint64 // addressed to another IP address than Local's
	DropForeign   uint64 // not from a configured peer's address and port
	DropChecksum  uint64 // IPv4 header or UDP checksum wrong
	DropTooLong   uint64 // a descriptor chain longer than the MTU allows
	DropBadDesc   uint64 // a descriptor pointing outside the UMEM
	Truncated     uint64 // returned, but longer than the caller's buffer (cut; the Opener then rejects it)
}

// XSKTransport is the AF_XDP transport of the sync link: one AF_XDP socket
// on one queue of the sync interface, with Tandem's steering program
// attached to that interface and configured to redirect UDP to the CCP port
// to the socket. Everything else (ARP, neighbour discovery, any other
// traffic) goes to the kernel (XDP_PASS), which keeps resolving the peers'
// MAC addresses. Frames are sent with Ethernet, IPv4 or IPv6, and UDP
// headers built by dataplane/packet, every checksum computed; received ones
// are parsed and checked (UDP to Local's port and address, from a
// configured peer, checksums right) before their payload is handed out.
//
// Concurrency: Send and Receive belong to one goroutine, the sync worker
// (the Session's Poll). Close and Stats are safe from any goroutine: Close
// waits until a Send or Receive in progress returns (at most the poll
// interval) and then tears everything down; later calls return ErrClosed.
// Send and Receive do not allocate.
type XSKTransport struct {
	// mu is held by Send, Receive and Close while they use the rings and
	// the UMEM, so that Close cannot unmap them under the sync worker. It
	// is uncontended except while Close runs.
	mu     sync.Mutex
	closed atomic.Bool

	ifname  string
	ifindex int
	umem    *xsk.UMEM
	sock    *xsk.Socket
	steer   *xdp.Steering
	attach  xdp.AttachMode
	mode    xsk.BindMode
	mirror  *nexthop.Mirror
	ownMirr bool

	local     [16]byte
	localPort uint16
	srcMAC    [6]byte
	ipv6      bool
	peers     [256]xskPeer
	peerIDs   []uint8
	mirrorGen uint64

	hdrLen     int    // Ethernet + IP + UDP header bytes
	maxPayload int    // largest datagram the MTU allows
	chunk      uint32 // packet bytes one UMEM frame holds
	headroom   uint32 // where a transmitted packet starts in its frame
	poll       time.Duration
	kickAlways bool // copy mode: every transmission needs a kick
	ipid       uint16

	rxFree, txFree *xsk.FreeList
	addrs          []uint64
	rxDescs        []xsk.Desc
	txDescs        []xsk.Desc
	spec           packet.Spec
	parsed         packet.Parsed
	scratch        []byte // a multi-buffer frame being built
	reasm          []byte // a multi-buffer frame being received
	reasmN         int
	inChain        bool
	chainBad       bool // the chain being received is dropped
	badDesc        bool // because a descriptor pointed outside the UMEM

	cnt xskCounters
}

type xskPeer struct {
	addr  [16]byte
	port  uint16
	ok    bool
	mac   [6]byte
	macOK bool
}

type xskCounters struct {
	framesSent, bytesSent, framesReceived, bytesReceived      atomic.Uint64
	sendNoPeer, sendUnresolved, sendTooBig, sendBusy, kickErr atomic.Uint64
	dropMalformed, dropNotUDP, dropPort, dropNotLocal         atomic.Uint64
	dropForeign, dropChecksum, dropTooLong, dropBadDesc       atomic.Uint64
	truncated                                                 atomic.Uint64
}

var _ Transport = (*XSKTransport)(nil)

const (
	ethHeaderLen = 14
	xskBatch     = 64
	xskChunk     = xsk.DefaultFrameSize - xsk.PacketHeadroom // packet bytes in one UMEM frame
)

// ListenXSK opens the AF_XDP transport on cfg.Ifname: it creates the UMEM
// and the socket, loads the steering program, registers the socket as the
// CCP socket of its queue, attaches the program to the interface, and asks
// the kernel to resolve every peer's address. The calling thread must be in
// the sync interface's network namespace (tools/lab.Do runs a function
// there); the transport's later calls may run on any thread.
func ListenXSK(cfg XSKConfig) (_ *XSKTransport, err error) {
	if cfg.Ifname == "" || !cfg.Local.Addr().IsValid() {
		return nil, fmt.Errorf("%w: xsk transport needs an interface and a local address", ErrConfig)
	}
	ifi, err := net.InterfaceByName(cfg.Ifname)
	if err != nil {
		return nil, fmt.Errorf("opening sync transport on %s: %w", cfg.Ifname, err)
	}
	t := &XSKTransport{ifname: cfg.Ifname, ifindex: ifi.Index, poll: cfg.Poll}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("opening sync transport on %s: not an Ethernet interface", cfg.Ifname)
	}
	copy(t.srcMAC[:], ifi.HardwareAddr)
	local := cfg.Local.Addr().Unmap()
	t.ipv6 = local.Is6()
	t.local = local.As16()
	t.localPort = portOr(cfg.Local.Port())
	for id, ap := range cfg.Peers {
		a := ap.Addr().Unmap()
		if id == 0 || !a.IsValid() || a.Is6() != t.ipv6 {
			return nil, fmt.Errorf("%w: sync peer %d at %v: want a member id 1..255 and an address of the local address's family", ErrConfig, id, ap)
		}
		t.peers[id] = xskPeer{addr: a.As16(), port: portOr(ap.Port()), ok: true}
		t.peerIDs = append(t.peerIDs, id)
	}
	mtu := cfg.MTU
	if mtu <= 0 {
		mtu = ifi.MTU
	}
	t.hdrLen = ethHeaderLen + 28
	if t.ipv6 {
		t.hdrLen = ethHeaderLen + 48
	}
	t.maxPayload = mtu - (t.hdrLen - ethHeaderLen)
	if t.maxPayload < 512 {
		return nil, fmt.Errorf("%w: sync link mtu %d", ErrConfig, mtu)
	}
	if t.poll == 0 {
		t.poll = time.Millisecond
	}
	descs := (mtu + ethHeaderLen + xskChunk - 1) / xskChunk // UMEM frames a full datagram takes
	rxFrames, txFrames := cfg.RxFrames, cfg.TxFrames
	if rxFrames == 0 {
		rxFrames = 2048
		for rxFrames < uint32(2*1024*descs) {
			rxFrames *= 2
		}
	}
	if txFrames == 0 {
		txFrames = 2048
	}
	for _, v := range []uint32{rxFrames, txFrames} {
		if v < 64 || v&(v-1) != 0 {
			return nil, fmt.Errorf("%w: %d rx and %d tx frames: want powers of two, at least 64", ErrConfig, rxFrames, txFrames)
		}
	}

	defer func() {
		if err != nil {
			t.teardown()
		}
	}()
	if t.umem, err = xsk.NewUMEM(xsk.UMEMConfig{FrameSize: xsk.DefaultFrameSize, FrameCount: rxFrames + txFrames}); err != nil {
		return nil, fmt.Errorf("opening sync transport on %s: %w", cfg.Ifname, err)
	}
	t.chunk = t.umem.MaxPacket()
	t.headroom = t.umem.TxHeadroom()
	multi := mtu+ethHeaderLen > int(t.chunk)
	t.sock, err = xsk.Open(t.umem, cfg.Ifname, cfg.Queue, xsk.Config{
		RxSize: int(rxFrames), TxSize: int(txFrames), FillSize: int(rxFrames), CompletionSize: int(txFrames),
		Mode: cfg.Mode, NeedWakeup: true, MultiBuffer: multi,
	})
	if err != nil {
		return nil, fmt.Errorf("opening sync transport: %w", err)
	}
	t.mode = t.sock.Mode()
	t.kickAlways = t.mode == xsk.ModeCopy
	t.rxFree = xsk.NewFreeList(t.umem, 0, rxFrames)
	t.txFree = xsk.NewFreeList(t.umem, rxFrames, txFrames)
	t.addrs = make([]uint64, max(rxFrames, txFrames))
	t.rxDescs = make([]xsk.Desc, xskBatch)
	t.txDescs = make([]xsk.Desc, (mtu+ethHeaderLen)/int(t.chunk)+1)
	t.scratch = make([]byte, mtu+ethHeaderLen)
	t.reasm = make([]byte, mtu+ethHeaderLen)
	t.refill()

	if t.steer, err = xdp.NewSteering(int(cfg.Queue) + 1); err != nil {
		return nil, fmt.Errorf("opening sync transport on %s: %w", cfg.Ifname, err)
	}
	if err = t.steer.SetInterface(t.ifindex, xdp.InterfaceConfig{CCPBase: 0, Flags: xdp.SteerCCP, CCPPort: uint32(t.localPort)}); err != nil {
		return nil, fmt.Errorf("opening sync transport on %s: %w", cfg.Ifname, err)
	}
	if err = t.steer.Register(cfg.Queue, t.sock.FD()); err != nil {
		return nil, fmt.Errorf("opening sync transport on %s: %w", cfg.Ifname, err)
	}
	if t.attach, err = t.steer.Attach(cfg.Ifname, cfg.Attach); err != nil {
		return nil, fmt.Errorf("opening sync transport: %w", err)
	}

	t.mirror = cfg.Neighbours
	if t.mirror == nil {
		if t.mirror, err = nexthop.New(nil); err != nil {
			return nil, fmt.Errorf("opening sync transport on %s: neighbour mirror: %w", cfg.Ifname, err)
		}
		t.ownMirr = true
	}
	t.mirrorGen = t.mirror.Generation()
	for _, id := range t.peerIDs {
		t.neighbour(&t.peers[id]) // asks the kernel to resolve what it does not know
	}
	t.spec = packet.Spec{SrcMAC: t.srcMAC, Src: t.local, Proto: packet.ProtoUDP, SrcPort: t.localPort, DontFragment: true}
	return t, nil
}

func portOr(p uint16) uint16 {
	if p == 0 {
		return ccp.UDPPort
	}
	return p
}

// Mode is the bind mode obtained: xsk.ModeZeroCopy or xsk.ModeCopy.
func (t *XSKTransport) Mode() xsk.BindMode { return t.mode }

// AttachMode is how the steering program was attached.
func (t *XSKTransport) AttachMode() xdp.AttachMode { return t.attach }

// MaxDatagram is the largest datagram Send accepts: the MTU less the IP and
// UDP headers.
func (t *XSKTransport) MaxDatagram() int { return t.maxPayload }

// HeaderLen is what the transport adds to each datagram on the wire:
// Ethernet, IP and UDP headers (42 bytes over IPv4, 62 over IPv6; the
// Ethernet FCS, preamble and gap are not counted).
func (t *XSKTransport) HeaderLen() int { return t.hdrLen }

// Resolved reports whether the MAC address of member peer is known (so
// that Send will not return ErrNeighbourUnresolved), asking the kernel to
// resolve it when not. Precondition: called by the goroutine that uses the
// transport, or before it starts.
func (t *XSKTransport) Resolved(peer uint8) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() || !t.peers[peer].ok {
		return false
	}
	_, ok := t.neighbour(&t.peers[peer])
	return ok
}

// neighbour returns the peer's MAC address from the cache, refilled from
// the mirror when the mirror changed; when the kernel has none it asks for
// resolution (at most every nexthop.ResolveInterval per address).
func (t *XSKTransport) neighbour(p *xskPeer) ([6]byte, bool) {
	if g := t.mirror.Generation(); g != t.mirrorGen {
		t.mirrorGen = g
		for _, id := range t.peerIDs {
			t.peers[id].macOK = false
		}
	}
	if p.macOK {
		return p.mac, true
	}
	mac, ok := t.mirror.Neighbor(t.ifindex, p.addr)
	if !ok {
		t.mirror.Resolve(t.ifindex, p.addr)
		return mac, false
	}
	p.mac, p.macOK = mac, true
	return mac, true
}

// Send implements Transport: it builds the Ethernet/IP/UDP frame around b
// in UMEM frames (a descriptor chain above one frame's room), puts it on
// the transmit ring and kicks the kernel.
func (t *XSKTransport) Send(peer uint8, b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return ErrClosed
	}
	p := &t.peers[peer]
	switch {
	case !p.ok:
		t.cnt.sendNoPeer.Add(1)
		return ErrNoPeer
	case len(b) > t.maxPayload:
		t.cnt.sendTooBig.Add(1)
		return ErrFrameTooBig
	}
	mac, ok := t.neighbour(p)
	if !ok {
		t.cnt.sendUnresolved.Add(1)
		return ErrNeighbourUnresolved
	}
	n := t.hdrLen + len(b)
	need := (n + int(t.chunk) - 1) / int(t.chunk)
	t.reclaim()
	if t.txFree.Len() < need {
		t.kick()
		t.reclaim()
		if t.txFree.Len() < need {
			t.cnt.sendBusy.Add(1)
			return ErrTxBusy
		}
	}
	t.ipid++
	sp := &t.spec
	sp.DstMAC, sp.Dst, sp.DstPort, sp.IPID = mac, p.addr, p.port, t.ipid
	sp.Payload, sp.PayloadLen = nil, len(b)
	addrs := t.addrs[:need]
	t.txFree.Get(addrs)
	descs := t.txDescs[:need]
	if need == 1 {
		buf := t.umem.Bytes(addrs[0]+uint64(t.headroom), t.chunk)
		copy(buf[t.hdrLen:], b)
		packet.Build(buf[:n], sp)
		descs[0] = xsk.Desc{Addr: addrs[0] + uint64(t.headroom), Len: uint32(n)}
	} else {
		frame := t.scratch[:n]
		copy(frame[t.hdrLen:], b)
		packet.Build(frame, sp)
		for i := range need {
			seg := frame[i*int(t.chunk) : min((i+1)*int(t.chunk), n)]
			a := addrs[i] + uint64(t.headroom)
			copy(t.umem.Bytes(a, uint32(len(seg))), seg)
			descs[i] = xsk.Desc{Addr: a, Len: uint32(len(seg)), Options: xsk.OptionContinued}
		}
		descs[need-1].Options = 0
	}
	if t.sock.Tx.Transmit(descs) != need { // cannot happen: the ring holds every transmit frame
		t.txFree.Put(addrs)
		t.cnt.sendBusy.Add(1)
		return ErrTxBusy
	}
	t.kick()
	t.cnt.framesSent.Add(1)
	t.cnt.bytesSent.Add(uint64(n))
	return nil
}

// kick asks the kernel to transmit, in copy mode always, in zero-copy mode
// when the ring says it needs a wakeup.
func (t *XSKTransport) kick() {
	if t.sock.Tx.Pending() == 0 || !t.kickAlways && !t.sock.Tx.NeedWakeup() {
		return
	}
	if err := t.sock.Kick(); err != nil {
		t.cnt.kickErr.Add(1)
	}
}

// reclaim takes back the frames the kernel has finished transmitting.
func (t *XSKTransport) reclaim() {
	for {
		n := t.sock.Completion.Consume(t.addrs)
		if n == 0 {
			return
		}
		t.txFree.Put(t.addrs[:n])
	}
}

// refill gives the kernel every free receive frame.
func (t *XSKTransport) refill() {
	for t.rxFree.Len() > 0 {
		room := min(t.sock.Fill.Free(), t.rxFree.Len(), len(t.addrs))
		if room == 0 {
			break
		}
		n := t.rxFree.Get(t.addrs[:room])
		got := t.sock.Fill.Produce(t.addrs[:n])
		if got < n {
			t.rxFree.Put(t.addrs[got:n])
			break
		}
	}
	if t.sock.Fill.NeedWakeup() {
		_ = t.sock.WakeRx()
	}
}

// Receive implements Transport: it hands out the payloads of up to
// len(bufs) valid CCP datagrams, waiting up to the poll interval when none
// is there.
func (t *XSKTransport) Receive(bufs [][]byte, sizes []int) (int, error) {
	return t.ReceiveWithin(bufs, sizes, t.poll)
}

// ReceiveWithin implements ReceiveWaiter: Receive waiting at most wait.
func (t *XSKTransport) ReceiveWithin(bufs [][]byte, sizes []int, wait time.Duration) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return 0, ErrClosed
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	n := t.receive(bufs, sizes)
	if n == 0 && wait >= time.Millisecond {
		if _, err := t.sock.Poll(wait); err != nil {
			return 0, fmt.Errorf("polling the sync socket: %w", err)
		}
		n = t.receive(bufs, sizes)
	}
	return n, nil
}

// receive takes descriptors off the rx ring, no more than there are
// buffers left (each descriptor ends at most one datagram), validates
// the datagrams they carry, and gives their frames back to the kernel.
func (t *XSKTransport) receive(bufs [][]byte, sizes []int) int {
	n := 0
	for n < len(bufs) {
		m := t.sock.Rx.Receive(t.rxDescs[:min(len(t.rxDescs), len(bufs)-n)])
		if m == 0 {
			break
		}
		for i := range m {
			d := &t.rxDescs[i]
			cont := d.Options&xsk.OptionContinued != 0
			data := t.umem.Bytes(d.Addr, d.Len)
			t.addrs[i] = d.Addr
			if !t.inChain && !cont && data != nil {
				if t.accept(data, bufs[n], &sizes[n]) {
					n++
				}
				continue
			}
			if !t.inChain {
				t.inChain, t.chainBad, t.badDesc, t.reasmN = true, false, false, 0
			}
			if data == nil || t.reasmN+len(data) > len(t.reasm) {
				t.chainBad = true
				t.badDesc = t.badDesc || data == nil
			} else {
				t.reasmN += copy(t.reasm[t.reasmN:], data)
			}
			if cont {
				continue
			}
			t.inChain = false
			switch {
			case t.badDesc:
				t.cnt.dropBadDesc.Add(1)
			case t.chainBad:
				t.cnt.dropTooLong.Add(1)
			case t.accept(t.reasm[:t.reasmN], bufs[n], &sizes[n]):
				n++
			}
		}
		t.rxFree.Put(t.addrs[:m])
		t.refill()
	}
	return n
}

// accept validates one received frame and copies its UDP payload into
// dst. It counts a drop reason for a frame it refuses.
func (t *XSKTransport) accept(frame, dst []byte, size *int) bool {
	p := &t.parsed
	if p.Decode(frame) != packet.DropNone {
		t.cnt.dropMalformed.Add(1)
		return false
	}
	switch {
	case p.Class != packet.ClassIPv4 && p.Class != packet.ClassIPv6,
		p.Proto != packet.ProtoUDP, p.Flags&packet.FlagL4 == 0, p.Flags&packet.FlagFragment != 0:
		t.cnt.dropNotUDP.Add(1)
		return false
	case p.DstPort != t.localPort:
		t.cnt.dropPort.Add(1)
		return false
	case p.Dst != t.local:
		t.cnt.dropNotLocal.Add(1)
		return false
	}
	known := false
	for _, id := range t.peerIDs {
		if q := &t.peers[id]; q.addr == p.Src && q.port == p.SrcPort {
			known = true
			break
		}
	}
	if !known {
		t.cnt.dropForeign.Add(1)
		return false
	}
	if !packet.ChecksumsValid(frame, p) {
		t.cnt.dropChecksum.Add(1)
		return false
	}
	payload := frame[p.PayloadOff : int(p.L4Off)+int(p.UDPLen)]
	c := copy(dst, payload)
	if c < len(payload) {
		t.cnt.truncated.Add(1)
	}
	*size = c
	t.cnt.framesReceived.Add(1)
	t.cnt.bytesReceived.Add(uint64(len(frame)))
	return true
}

// Stats returns the transport's counters. Safe from any goroutine.
func (t *XSKTransport) Stats() XSKStats {
	c := &t.cnt
	return XSKStats{
		FramesSent: c.framesSent.Load(), BytesSent: c.bytesSent.Load(),
		FramesReceived: c.framesReceived.Load(), BytesReceived: c.bytesReceived.Load(),
		SendNoPeer: c.sendNoPeer.Load(), SendUnresolved: c.sendUnresolved.Load(),
		SendTooBig: c.sendTooBig.Load(), SendBusy: c.sendBusy.Load(), KickErrors: c.kickErr.Load(),
		DropMalformed: c.dropMalformed.Load(), DropNotUDP: c.dropNotUDP.Load(), DropPort: c.dropPort.Load(),
		DropNotLocal: c.dropNotLocal.Load(), DropForeign: c.dropForeign.Load(), DropChecksum: c.dropChecksum.Load(),
		DropTooLong: c.dropTooLong.Load(), DropBadDesc: c.dropBadDesc.Load(), Truncated: c.truncated.Load(),
	}
}

// SocketStats returns the kernel's counters of the AF_XDP socket.
func (t *XSKTransport) SocketStats() (xsk.Statistics, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return xsk.Statistics{}, ErrClosed
	}
	return t.sock.Stats()
}

// Close implements Transport: it detaches the steering program (its
// bpf_link goes), closes the socket, the UMEM and the neighbour mirror if
// the transport started it. It waits for a Send or Receive in progress.
func (t *XSKTransport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.teardown()
}

func (t *XSKTransport) teardown() error {
	var errs []error
	if t.steer != nil { // first: no more redirects to a socket about to go
		errs = append(errs, t.steer.Close())
		t.steer = nil
	}
	if t.sock != nil {
		errs = append(errs, t.sock.Close())
		t.sock = nil
	}
	if t.umem != nil {
		errs = append(errs, t.umem.Close())
		t.umem = nil
	}
	if t.ownMirr && t.mirror != nil {
		errs = append(errs, t.mirror.Close())
		t.mirror = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing sync transport on %s: %w", t.ifname, err)
	}
	return nil
}
