package xdp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AttachMode is how a program is attached to an interface.
type AttachMode uint8

const (
	// AttachAuto tries native (driver) mode, then generic mode.
	AttachAuto AttachMode = iota
	// AttachNative insists on native mode.
	AttachNative
	// AttachGeneric uses generic (skb) mode.
	AttachGeneric
)

func (m AttachMode) String() string {
	switch m {
	case AttachAuto:
		return "auto"
	case AttachNative:
		return "native"
	case AttachGeneric:
		return "generic"
	}
	return fmt.Sprintf("AttachMode(%d)", uint8(m))
}

// ParseAttachMode parses "auto", "native" and "generic".
func ParseAttachMode(s string) (AttachMode, error) {
	switch s {
	case "", "auto":
		return AttachAuto, nil
	case "native", "driver":
		return AttachNative, nil
	case "generic", "skb":
		return AttachGeneric, nil
	}
	return 0, fmt.Errorf("xdp attach mode %q: want auto, native or generic", s)
}

// ourPrefix starts the name of every program Tandem loads; RemoveStale
// removes only programs whose names start with it.
const ourPrefix = "tandem_"

// attachments tracks the bpf_links of one program.
type attachments struct {
	links map[int]link.Link // by ifindex
}

func (a *attachments) attach(prog *ebpf.Program, ifname string, mode AttachMode) (AttachMode, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("attaching xdp to %s: %w", ifname, err)
	}
	ifindex := l.Attrs().Index
	if a.links == nil {
		a.links = make(map[int]link.Link)
	}
	if _, ok := a.links[ifindex]; ok {
		return 0, fmt.Errorf("attaching xdp to %s: already attached", ifname)
	}
	if err := RemoveStale(ifname); err != nil {
		return 0, err
	}
	try := func(flags link.XDPAttachFlags) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	}
	var lk link.Link
	got := mode
	switch mode {
	case AttachNative:
		lk, err = try(link.XDPDriverMode)
	case AttachGeneric:
		lk, err = try(link.XDPGenericMode)
	default:
		got = AttachNative
		lk, err = try(link.XDPDriverMode)
		if err != nil {
			nativeErr := err
			got = AttachGeneric
			lk, err = try(link.XDPGenericMode)
			if err != nil {
				err = fmt.Errorf("native: %w; generic: %w", nativeErr, err)
			}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("attaching xdp program to %s in %s mode: %w", ifname, mode, err)
	}
	a.links[ifindex] = lk
	return got, nil
}

// detach removes the program from one interface.
func (a *attachments) detach(ifindex int) error {
	lk, ok := a.links[ifindex]
	if !ok {
		return nil
	}
	delete(a.links, ifindex)
	if err := lk.Close(); err != nil {
		return fmt.Errorf("detaching xdp from ifindex %d: %w", ifindex, err)
	}
	return nil
}

func (a *attachments) detachAll() error {
	var errs []error
	for ifindex := range a.links {
		errs = append(errs, a.detach(ifindex))
	}
	return errors.Join(errs...)
}

// Attach attaches the steering program to ifname and returns the mode obtained.
func (s *Steering) Attach(ifname string, mode AttachMode) (AttachMode, error) {
	return s.attach(s.Program, ifname, mode)
}

// Detach removes the steering program from the interface with index ifindex.
func (s *Steering) Detach(ifindex int) error { return s.detach(ifindex) }

// Attach attaches the ceiling program to ifname and returns the mode obtained.
func (c *Ceiling) Attach(ifname string, mode AttachMode) (AttachMode, error) {
	return c.attach(c.Program, ifname, mode)
}

// RemoveStale removes from ifname an XDP program that an earlier Tandem
// attached the legacy way (netlink, which outlives its process). A program
// held by a bpf_link of a running process cannot be removed and is reported;
// a program that is not Tandem's is reported and left alone.
func RemoveStale(ifname string) error {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("checking %s for a stale xdp program: %w", ifname, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached || x.ProgId == 0 {
		return nil
	}
	name := fmt.Sprintf("id %d", x.ProgId)
	if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err == nil {
		if info, err := p.Info(); err == nil {
			name = info.Name
		}
		p.Close()
	}
	if !strings.HasPrefix(name, ourPrefix) {
		return fmt.Errorf("%s already has xdp program %q attached, which is not Tandem's: remove it first", ifname, name)
	}
	var errs []error
	for _, flags := range []int{unix.XDP_FLAGS_DRV_MODE, unix.XDP_FLAGS_SKB_MODE} {
		err := netlink.LinkSetXdpFdWithFlags(l, -1, flags)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%s has xdp program %q attached by a running process (another tandemd?)", ifname, name)
		}
		errs = append(errs, err)
	}
	l, err = netlink.LinkByName(ifname)
	if err == nil && l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached {
		return fmt.Errorf("removing stale xdp program %q from %s: still attached: %w", name, ifname, errors.Join(errs...))
	}
	return nil
}
