package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// builder holds one netlink handle per namespace while a lab is built.
type builder struct {
	ns      map[string]netns.NsHandle
	handles map[string]*netlink.Handle
}

func newBuilder() *builder {
	return &builder{ns: map[string]netns.NsHandle{}, handles: map[string]*netlink.Handle{}}
}

func (b *builder) close() {
	for _, h := range b.handles {
		h.Close()
	}
	for _, h := range b.ns {
		h.Close()
	}
}

// addNS creates a named namespace without moving the calling thread into it.
func (b *builder) addNS(name string) error {
	errc := make(chan error, 1)
	go func() {
		// netns.NewNamed moves the calling thread into the new namespace:
		// lock it and let it die with this goroutine.
		runtime.LockOSThread() // no Unlock: the thread exits with this goroutine
		h, err := netns.NewNamed(name)
		if err != nil {
			errc <- fmt.Errorf("creating namespace %s: %w", name, err)
			return
		}
		h.Close()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return err
	}
	return b.open(name)
}

func (b *builder) open(name string) error {
	if _, ok := b.handles[name]; ok {
		return nil
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", name, err)
	}
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		h.Close()
		return fmt.Errorf("opening netlink in namespace %s: %w", name, err)
	}
	b.ns[name], b.handles[name] = h, nh
	return nil
}

func (b *builder) handle(ns string) (*netlink.Handle, error) {
	if err := b.open(ns); err != nil {
		return nil, err
	}
	return b.handles[ns], nil
}

// veth creates a veth pair with one end in each namespace, both ends with
// the same number of rx and tx queues (native XDP needs that).
func (b *builder) veth(ns, ifname, peerNS, peerIf string, queues, mtu int) error {
	for _, n := range []string{ns, peerNS} {
		if err := b.open(n); err != nil {
			return err
		}
	}
	v := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name: ifname, Namespace: netlink.NsFd(b.ns[ns]), MTU: mtu,
			NumTxQueues: queues, NumRxQueues: queues, TxQLen: 1000,
		},
		PeerName: peerIf, PeerNamespace: netlink.NsFd(b.ns[peerNS]),
		PeerNumTxQueues: uint32(queues), PeerNumRxQueues: uint32(queues), PeerMTU: uint32(mtu),
	}
	if err := netlink.LinkAdd(v); err != nil {
		return fmt.Errorf("creating veth %s/%s - %s/%s: %w", ns, ifname, peerNS, peerIf, err)
	}
	return nil
}

func (b *builder) bridge(ns, name string, ports []string) error {
	h, err := b.handle(ns)
	if err != nil {
		return err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("creating bridge %s in %s: %w", name, ns, err)
	}
	for _, p := range ports {
		l, err := h.LinkByName(p)
		if err != nil {
			return fmt.Errorf("finding bridge port %s in %s: %w", p, ns, err)
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("adding %s to bridge %s in %s: %w", p, name, ns, err)
		}
	}
	return nil
}

// link returns ns's netlink handle and its link ifname.
func (b *builder) link(ns, ifname string) (*netlink.Handle, netlink.Link, error) {
	h, err := b.handle(ns)
	if err != nil {
		return nil, nil, err
	}
	l, err := h.LinkByName(ifname)
	if err != nil {
		return nil, nil, fmt.Errorf("finding %s in %s: %w", ifname, ns, err)
	}
	return h, l, nil
}

func (b *builder) addr(ns, ifname string, a netip.Addr, bits int) error {
	h, l, err := b.link(ns, ifname)
	if err != nil {
		return err
	}
	ipn := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
	// No duplicate address detection: the lab is ours, and DAD would hold
	// IPv6 addresses back for a second.
	if err := h.AddrReplace(l, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD}); err != nil {
		return fmt.Errorf("adding %s to %s in %s: %w", a, ifname, ns, err)
	}
	return nil
}

func (b *builder) up(ns string, ifnames ...string) error {
	h, err := b.handle(ns)
	if err != nil {
		return err
	}
	for _, n := range ifnames {
		_, l, err := b.link(ns, n)
		if err != nil {
			return err
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("bringing %s up in %s: %w", n, ns, err)
		}
	}
	return nil
}

func (b *builder) defaultRoute(ns, ifname string, via netip.Addr) error {
	h, l, err := b.link(ns, ifname)
	if err != nil {
		return err
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: via.AsSlice()}
	if via.Is4() {
		r.Dst = &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
	} else {
		r.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("adding default route via %s in %s: %w", via, ns, err)
	}
	return nil
}

// sysctl writes /proc/sys/<key> as seen from inside ns. With optional, a key
// that does not exist (a module not loaded) is not an error.
func (b *builder) sysctl(ns, key, value string, optional bool) error {
	return Do(ns, func() error {
		p := filepath.Join("/proc/sys", key)
		err := os.WriteFile(p, []byte(value), 0o644)
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("setting %s=%s in %s: %w", key, value, ns, err)
		}
		return nil
	})
}
