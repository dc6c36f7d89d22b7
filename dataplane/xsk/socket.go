package xsk

import (
	"errors"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BindMode says how a socket is bound to its queue.
type BindMode uint8

const (
	// ModeAuto tries zero-copy and falls back to copy where the driver has
	// no zero-copy support (veth, for one). The default.
	ModeAuto BindMode = iota
	// ModeZeroCopy insists on zero-copy and fails where it is unsupported.
	ModeZeroCopy
	// ModeCopy binds in copy mode.
	ModeCopy
)

func (m BindMode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeZeroCopy:
		return "zero-copy"
	case ModeCopy:
		return "copy"
	}
	return fmt.Sprintf("BindMode(%d)", uint8(m))
}

// ParseBindMode parses "auto", "zero-copy" (or "zerocopy") and "copy".
func ParseBindMode(s string) (BindMode, error) {
	switch s {
	case "", "auto":
		return ModeAuto, nil
	case "zero-copy", "zerocopy":
		return ModeZeroCopy, nil
	case "copy":
		return ModeCopy, nil
	}
	return 0, fmt.Errorf("bind mode %q: want auto, zero-copy or copy", s)
}

// BusyPoll holds the busy-polling socket options. Zero values leave the
// kernel's defaults.
type BusyPoll struct {
	Prefer  bool // SO_PREFER_BUSY_POLL
	Timeout time.Duration
	Budget  int // SO_BUSY_POLL_BUDGET: packets per busy-poll round
}

// Config sizes a socket's rings and chooses its options. Ring sizes are
// powers of two; 0 takes the default (2048), and a negative Rx or Tx size
// leaves that ring out (a transmit-only or receive-only socket).
type Config struct {
	RxSize, TxSize           int
	FillSize, CompletionSize int
	Mode                     BindMode
	NeedWakeup               bool     // XDP_USE_NEED_WAKEUP
	MultiBuffer              bool     // XDP_USE_SG: packets may span several frames (jumbo frames)
	BusyPoll                 BusyPoll // socket options for busy polling
	TxBudget                 int      // XDP_MAX_TX_SKB_BUDGET: descriptors per copy-mode kick; 0 leaves 32
	BindRetry                time.Duration
}

const defaultRingSize = 2048

func ringSize(v int) uint32 {
	if v == 0 {
		return defaultRingSize
	}
	if v < 0 {
		return 0
	}
	return uint32(v)
}

func validRingSize(name string, v uint32) error {
	if v != 0 && v&(v-1) != 0 {
		return fmt.Errorf("%s ring size %d: must be a power of two", name, v)
	}
	return nil
}

// Statistics are the kernel's per-socket counters (XDP_STATISTICS).
type Statistics struct {
	RxDropped          uint64 // dropped for reasons other than a full rx ring or empty fill ring
	RxInvalidDescs     uint64 // bad descriptors on the fill ring (bad address or length)
	TxInvalidDescs     uint64 // bad descriptors on the tx ring
	RxRingFull         uint64 // dropped because the rx ring was full
	FillRingEmptyDescs uint64 // times the kernel found the fill ring empty
	TxRingEmptyDescs   uint64 // times the kernel found the tx ring empty when kicked
}

// Socket is an AF_XDP socket bound to one queue of one interface.
//
// The rings are exported fields so that the goroutine driving them calls
// their methods without an indirection; see the package doc for ownership.
type Socket struct {
	Fill       FillQueue
	Completion CompletionQueue
	Rx         RxQueue
	Tx         TxQueue

	fd         int
	umem       *UMEM
	ifname     string
	ifindex    int
	queue      uint32
	mode       BindMode // the mode obtained: ModeZeroCopy or ModeCopy
	needWakeup bool
	closed     bool
}

// Open creates a socket on queue queue of interface ifname, sharing u, and
// binds it. The calling thread must be in the interface's network namespace.
func Open(u *UMEM, ifname string, queue uint32, cfg Config) (*Socket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("opening xsk on %s queue %d: %w", ifname, queue, err)
	}
	s, err := open(u, ifname, ifi.Index, queue, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening xsk on %s queue %d: %w", ifname, queue, err)
	}
	return s, nil
}

func open(u *UMEM, ifname string, ifindex int, queue uint32, cfg Config) (_ *Socket, err error) {
	if u == nil || u.area == nil {
		return nil, errors.New("umem is closed")
	}
	if u.fd < 0 {
		return nil, errors.New("umem has no socket: an earlier failed bind could not re-register it")
	}
	rx, tx := ringSize(cfg.RxSize), ringSize(cfg.TxSize)
	fill, comp := ringSize(cfg.FillSize), ringSize(cfg.CompletionSize)
	for _, c := range []struct {
		name string
		v    uint32
	}{{"rx", rx}, {"tx", tx}, {"fill", fill}, {"completion", comp}} {
		if err := validRingSize(c.name, c.v); err != nil {
			return nil, err
		}
	}
	if rx == 0 && tx == 0 {
		return nil, errors.New("socket needs an rx or a tx ring")
	}

	s := &Socket{umem: u, ifname: ifname, ifindex: ifindex, queue: queue, fd: -1}
	shared := u.fdAdopted
	if shared {
		s.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("creating AF_XDP socket: %w", err)
		}
	} else {
		s.fd = u.fd
	}
	defer func() {
		if err == nil {
			return
		}
		s.unmapRings()
		if shared {
			_ = unix.Close(s.fd)
		} else if rerr := u.reregister(); rerr != nil {
			err = fmt.Errorf("%w; re-registering the umem after it: %w", err, rerr)
		}
	}()

	// Every socket has its own fill and completion rings: sharing a UMEM
	// across queues or interfaces needs that (kernel ≥ 5.10). Two sockets on
	// the same queue and interface would share one pair instead; Tandem never
	// does that (the sync link has its own interface).
	steps := []struct {
		opt  int
		v    uint32
		what string
	}{
		{unix.XDP_UMEM_FILL_RING, fill, "fill ring size"},
		{unix.XDP_UMEM_COMPLETION_RING, comp, "completion ring size"},
		{unix.XDP_RX_RING, rx, "rx ring size"},
		{unix.XDP_TX_RING, tx, "tx ring size"},
	}
	for _, st := range steps {
		if st.v == 0 {
			continue
		}
		if err := setsockoptUint32(s.fd, st.opt, st.v); err != nil {
			return nil, fmt.Errorf("setting %s %d: %w", st.what, st.v, err)
		}
	}
	if cfg.TxBudget > 0 {
		if err := setsockoptUint32(s.fd, unix.XDP_MAX_TX_SKB_BUDGET, uint32(cfg.TxBudget)); err != nil {
			return nil, fmt.Errorf("setting tx budget %d: %w", cfg.TxBudget, err)
		}
	}
	if err := s.mapRings(rx, tx, fill, comp); err != nil {
		return nil, err
	}
	if err := s.setBusyPoll(cfg.BusyPoll); err != nil {
		return nil, err
	}
	if err := s.bind(cfg, shared); err != nil {
		return nil, err
	}
	if !shared {
		u.fdAdopted = true
		u.ownerCfg = cfg
	}
	u.sockets++
	return s, nil
}

func (s *Socket) mapRings(rx, tx, fill, comp uint32) error {
	var off unix.XDPMmapOffsets
	if _, err := getsockoptPtr(s.fd, unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fmt.Errorf("reading ring offsets: %w", err)
	}
	if fill != 0 {
		r, d, err := mapRing(s.fd, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, fill, 8)
		if err != nil {
			return fmt.Errorf("fill ring: %w", err)
		}
		s.Fill = newFillQueue(r, d)
	}
	if comp != 0 {
		r, d, err := mapRing(s.fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, comp, 8)
		if err != nil {
			return fmt.Errorf("completion ring: %w", err)
		}
		s.Completion = newCompletionQueue(r, d)
	}
	if rx != 0 {
		r, d, err := mapRing(s.fd, unix.XDP_PGOFF_RX_RING, off.Rx, rx, unsafe.Sizeof(Desc{}))
		if err != nil {
			return fmt.Errorf("rx ring: %w", err)
		}
		s.Rx = newRxQueue(r, d)
	}
	if tx != 0 {
		r, d, err := mapRing(s.fd, unix.XDP_PGOFF_TX_RING, off.Tx, tx, unsafe.Sizeof(Desc{}))
		if err != nil {
			return fmt.Errorf("tx ring: %w", err)
		}
		s.Tx = newTxQueue(r, d)
	}
	return nil
}

func (s *Socket) unmapRings() {
	_ = s.Fill.unmap()
	_ = s.Completion.unmap()
	_ = s.Rx.unmap()
	_ = s.Tx.unmap()
}

func (s *Socket) setBusyPoll(bp BusyPoll) error {
	if bp.Prefer {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_PREFER_BUSY_POLL, 1); err != nil {
			return fmt.Errorf("setting SO_PREFER_BUSY_POLL: %w", err)
		}
	}
	if bp.Timeout > 0 {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL, int(bp.Timeout/time.Microsecond)); err != nil {
			return fmt.Errorf("setting SO_BUSY_POLL %v: %w", bp.Timeout, err)
		}
	}
	if bp.Budget > 0 {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL_BUDGET, bp.Budget); err != nil {
			return fmt.Errorf("setting SO_BUSY_POLL_BUDGET %d: %w", bp.Budget, err)
		}
	}
	return nil
}

// bind binds with the requested mode, falling back from zero-copy to copy
// under ModeAuto, and retrying EBUSY for a short while (a queue whose
// previous socket just closed stays busy for about 10 ms).
func (s *Socket) bind(cfg Config, shared bool) error {
	var flags uint16
	if cfg.NeedWakeup {
		flags |= unix.XDP_USE_NEED_WAKEUP
	}
	if cfg.MultiBuffer {
		flags |= unix.XDP_USE_SG
	}
	sa := unix.SockaddrXDP{Ifindex: uint32(s.ifindex), QueueID: s.queue}
	if shared {
		// XDP_SHARED_UMEM takes no other flag (EINVAL): mode, need_wakeup
		// and multi-buffer are those of the UMEM's first socket.
		if cfg.NeedWakeup != s.umem.ownerCfg.NeedWakeup || cfg.MultiBuffer != s.umem.ownerCfg.MultiBuffer {
			return fmt.Errorf("sockets sharing a umem inherit need_wakeup=%v and multi-buffer=%v from its first socket; this one asks for %v and %v",
				s.umem.ownerCfg.NeedWakeup, s.umem.ownerCfg.MultiBuffer, cfg.NeedWakeup, cfg.MultiBuffer)
		}
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(s.umem.fd)
		if err := bindRetry(s.fd, &sa, cfg.BindRetry); err != nil {
			return fmt.Errorf("binding with shared umem: %w", err)
		}
		return s.readMode(cfg)
	}
	try := func(mode uint16) error {
		sa.Flags = flags | mode
		return bindRetry(s.fd, &sa, cfg.BindRetry)
	}
	var err error
	switch cfg.Mode {
	case ModeCopy:
		if err = try(unix.XDP_COPY); err != nil {
			return fmt.Errorf("binding in copy mode: %w", err)
		}
	case ModeZeroCopy:
		if err = try(unix.XDP_ZEROCOPY); err != nil {
			return fmt.Errorf("binding in zero-copy mode: %w", err)
		}
	default:
		if err = try(unix.XDP_ZEROCOPY); err != nil {
			zcErr := err
			if err = try(unix.XDP_COPY); err != nil {
				return fmt.Errorf("binding: zero-copy: %w; copy: %w", zcErr, err)
			}
		}
	}
	return s.readMode(cfg)
}

func (s *Socket) readMode(cfg Config) error {
	var opts struct{ Flags uint32 }
	if _, err := getsockoptPtr(s.fd, unix.SOL_XDP, unix.XDP_OPTIONS, unsafe.Pointer(&opts), unsafe.Sizeof(opts)); err != nil {
		return fmt.Errorf("reading socket options: %w", err)
	}
	s.mode = ModeCopy
	if opts.Flags&unix.XDP_OPTIONS_ZEROCOPY != 0 {
		s.mode = ModeZeroCopy
	}
	s.needWakeup = cfg.NeedWakeup
	return nil
}

func bindRetry(fd int, sa *unix.SockaddrXDP, budget time.Duration) error {
	if budget <= 0 {
		budget = 500 * time.Millisecond
	}
	deadline := time.Now().Add(budget)
	for {
		err := unix.Bind(fd, sa)
		if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FD is the socket's file descriptor, for an XSKMAP.
func (s *Socket) FD() int { return s.fd }

// Mode is the bind mode obtained: ModeZeroCopy or ModeCopy.
func (s *Socket) Mode() BindMode { return s.mode }

// NeedWakeup reports whether the socket was bound with XDP_USE_NEED_WAKEUP.
func (s *Socket) NeedWakeup() bool { return s.needWakeup }

// Interface is the name of the interface the socket is bound to.
func (s *Socket) Interface() string { return s.ifname }

// Queue is the queue id the socket is bound to.
func (s *Socket) Queue() uint32 { return s.queue }

// Kick asks the kernel to transmit what is on the tx ring. In copy mode the
// kernel sends at most the tx budget per call; EAGAIN, EBUSY and ENOBUFS mean
// "not now, call again" and are not errors. It does not allocate.
func (s *Socket) Kick() error { return kickResult(kickTx(s.fd)) }

// WakeRx asks the kernel to go on filling the rx ring; needed only when the
// fill ring's NeedWakeup says so. It does not allocate.
func (s *Socket) WakeRx() error { return kickResult(kickRx(s.fd)) }

// kickResult maps a kick's errno: EAGAIN, EBUSY and ENOBUFS mean "not now,
// call again", which is not an error.
func kickResult(e unix.Errno) error {
	switch e {
	case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
		return nil
	case unix.ENETDOWN:
		return ErrInterfaceDown
	default:
		return e
	}
}

// Poll waits up to timeout for received packets, for an idle worker that
// should not spin. It returns whether the socket is readable. It does not
// allocate.
func (s *Socket) Poll(timeout time.Duration) (bool, error) {
	ready, e := pollIn(s.fd, int(timeout/time.Millisecond))
	if e != 0 && e != unix.EINTR {
		return false, e
	}
	return ready, nil
}

// ErrInterfaceDown is returned by Kick and WakeRx when the interface is down.
var ErrInterfaceDown = errors.New("interface is down")

// Stats reads the kernel's counters for the socket.
func (s *Socket) Stats() (Statistics, error) {
	var st unix.XDPStatistics
	if _, err := getsockoptPtr(s.fd, unix.SOL_XDP, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return Statistics{}, fmt.Errorf("reading statistics of xsk on %s queue %d: %w", s.ifname, s.queue, err)
	}
	return Statistics{
		RxDropped:          st.Rx_dropped,
		RxInvalidDescs:     st.Rx_invalid_descs,
		TxInvalidDescs:     st.Tx_invalid_descs,
		RxRingFull:         st.Rx_ring_full,
		FillRingEmptyDescs: st.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs:   st.Tx_ring_empty_descs,
	}, nil
}

// Close unmaps the rings and closes the socket. The UMEM stays; close it after
// its last socket.
func (s *Socket) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.unmapRings()
	s.umem.sockets--
	if s.fd == s.umem.fd {
		// The UMEM's own descriptor: closing it now would unregister the
		// area under the other sockets; UMEM.Close closes it last.
		return nil
	}
	if err := unix.Close(s.fd); err != nil {
		return fmt.Errorf("closing xsk on %s queue %d: %w", s.ifname, s.queue, err)
	}
	return nil
}
