package xsk

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Frame sizes the kernel accepts in aligned mode: a power of two from 2048
// bytes up to the page size.
const (
	MinFrameSize     = 2048 // smallest aligned chunk the kernel accepts
	DefaultFrameSize = 4096 // one page: room for 4096-256 bytes of packet
	// PacketHeadroom is what the kernel keeps in front of received data in
	// every frame (XDP_PACKET_HEADROOM) on top of UMEMConfig.Headroom.
	PacketHeadroom = unix.XDP_PACKET_HEADROOM
)

// UMEMConfig sizes a UMEM.
type UMEMConfig struct {
	FrameSize  uint32 // bytes per frame: a power of two, MinFrameSize..page size; 0 means DefaultFrameSize
	FrameCount uint32 // frames in the area; 0 means 4096
	Headroom   uint32 // bytes the kernel leaves free before received data, beyond PacketHeadroom
}

func (c *UMEMConfig) setDefaults() {
	if c.FrameSize == 0 {
		c.FrameSize = DefaultFrameSize
	}
	if c.FrameCount == 0 {
		c.FrameCount = 4096
	}
}

func (c UMEMConfig) validate() error {
	page := uint32(unix.Getpagesize())
	if c.FrameSize < MinFrameSize || c.FrameSize > page || c.FrameSize&(c.FrameSize-1) != 0 {
		return fmt.Errorf("frame size %d: must be a power of two from %d to the page size %d", c.FrameSize, MinFrameSize, page)
	}
	if c.Headroom+PacketHeadroom+64 > c.FrameSize {
		return fmt.Errorf("headroom %d leaves no room for a packet in a %d-byte frame", c.Headroom, c.FrameSize)
	}
	if uint64(c.FrameSize)*uint64(c.FrameCount) > 1<<40 {
		return fmt.Errorf("%d frames of %d bytes: area too large", c.FrameCount, c.FrameSize)
	}
	return nil
}

// UMEM is the packet buffer area the kernel and Tandem share. It is registered
// on its first socket's file descriptor; further sockets, on other queues or
// other interfaces, share it (XDP_SHARED_UMEM), so a frame received on one can
// be sent on another without a copy. Frames are addressed by their byte offset
// in the area.
type UMEM struct {
	fd         int    // the owning AF_XDP socket: the UMEM is registered on it
	fdAdopted  bool   // the first Socket bound fd; later ones share it (XDP_SHARED_UMEM)
	ownerCfg   Config // the first Socket's config, whose flags the others inherit
	area       []byte
	frameSize  uint32
	frameCount uint32
	headroom   uint32
	sockets    int
}

// ErrMemlock is wrapped by NewUMEM when registration fails for want of locked
// memory (no CAP_IPC_LOCK and RLIMIT_MEMLOCK too small).
var ErrMemlock = errors.New("umem exceeds the locked-memory limit (RLIMIT_MEMLOCK) and CAP_IPC_LOCK is missing")

// NewUMEM maps and registers a UMEM.
func NewUMEM(cfg UMEMConfig) (*UMEM, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("umem config: %w", err)
	}
	size := int(cfg.FrameSize) * int(cfg.FrameCount)
	area, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mapping umem area of %d bytes: %w", size, err)
	}
	u := &UMEM{fd: -1, area: area, frameSize: cfg.FrameSize, frameCount: cfg.FrameCount, headroom: cfg.Headroom}
	if err := u.register(); err != nil {
		_ = unix.Munmap(area)
		return nil, err
	}
	return u, nil
}

// register creates the owning socket and registers the area on it.
func (u *UMEM) register() error {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("creating AF_XDP socket: %w", err)
	}
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(&u.area[0]))),
		Len:      uint64(len(u.area)),
		Size:     u.frameSize,
		Headroom: u.headroom,
	}
	if err := setsockoptPtr(fd, unix.SOL_XDP, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		_ = unix.Close(fd)
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("registering umem of %d bytes: %w (%w)", len(u.area), ErrMemlock, err)
		}
		return fmt.Errorf("registering umem of %d bytes: %w", len(u.area), err)
	}
	u.fd = fd
	return nil
}

// reregister replaces the owning socket after a failed first bind: its rings
// exist and cannot be created again, so the next Open needs a fresh one.
func (u *UMEM) reregister() error {
	_ = unix.Close(u.fd)
	u.fd = -1
	return u.register()
}

// FrameSize is the size of one frame in bytes.
func (u *UMEM) FrameSize() uint32 { return u.frameSize }

// FrameCount is the number of frames in the area.
func (u *UMEM) FrameCount() uint32 { return u.frameCount }

// Size is the area's size in bytes.
func (u *UMEM) Size() int { return len(u.area) }

// FrameAddr is the address of frame i.
func (u *UMEM) FrameAddr(i uint32) uint64 { return uint64(i) * uint64(u.frameSize) }

// FrameBase is the address of the frame that holds addr: received
// descriptors point past the headroom; the fill ring takes either.
func (u *UMEM) FrameBase(addr uint64) uint64 { return addr &^ uint64(u.frameSize-1) }

// TxHeadroom is where a frame's data should start for transmission, so that a
// zero-copy driver has the same room in front of it as a received frame.
func (u *UMEM) TxHeadroom() uint32 { return u.headroom + PacketHeadroom }

// MaxPacket is the most data one frame holds after its headroom.
func (u *UMEM) MaxPacket() uint32 { return u.frameSize - u.TxHeadroom() }

// Bytes returns the n bytes at addr, as a slice into the shared area. It does
// not allocate. It returns nil if the range leaves the area (a corrupt
// descriptor); callers count that and drop the frame.
func (u *UMEM) Bytes(addr uint64, n uint32) []byte {
	end := addr + uint64(n)
	if end > uint64(len(u.area)) || end < addr {
		return nil
	}
	return u.area[addr:end:end]
}

// Close unregisters and unmaps the UMEM. Sockets opened on it must be closed
// first.
func (u *UMEM) Close() error {
	if u.area == nil {
		return nil
	}
	if u.sockets > 0 {
		return fmt.Errorf("closing umem: %d sockets still open on it", u.sockets)
	}
	var errs []error
	if u.fd < 0 {
		// a failed reregister left no socket
	} else if err := unix.Close(u.fd); err != nil {
		errs = append(errs, fmt.Errorf("closing umem socket: %w", err))
	}
	if err := unix.Munmap(u.area); err != nil {
		errs = append(errs, fmt.Errorf("unmapping umem: %w", err))
	}
	u.area = nil
	return errors.Join(errs...)
}
