package nexthop

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

func a16(s string) Addr { return netip.MustParseAddr(s).As16() }

func TestRouteTableLongestPrefixPerFamily(t *testing.T) {
	mk := func(prefix, gw string, ifindex int) route {
		p := netip.MustParsePrefix(prefix)
		bits := p.Bits()
		if p.Addr().Is4() {
			bits += 96 // v4-mapped
		}
		r := route{dst: mask(p.Addr().As16(), bits), bits: bits, ifindex: ifindex}
		if gw != "" {
			r.gw, r.hasGW = a16(gw), true
		}
		return r
	}
	tbl := buildRouteTable([]route{
		mk("0.0.0.0/0", "10.0.0.1", 1),
		mk("10.77.2.0/24", "", 2),
		mk("10.77.2.128/25", "10.77.2.1", 3),
		mk("::/0", "fd77::1", 4),
		mk("fd77:2::/64", "", 5),
	})
	cases := []struct {
		dst     string
		ifindex int
		gw      string
	}{
		{"10.77.2.10", 2, "10.77.2.10"},
		{"10.77.2.200", 3, "10.77.2.1"},
		{"192.0.2.1", 1, "10.0.0.1"},
		{"fd77:2::10", 5, "fd77:2::10"},
		{"2001:db8::1", 4, "fd77::1"},
	}
	for _, c := range cases {
		h, ok := tbl.lookup(a16(c.dst))
		if !ok || h.Ifindex != c.ifindex || h.Gateway != a16(c.gw) {
			t.Errorf("%s: got %+v %v, want ifindex %d via %s", c.dst, h, ok, c.ifindex, c.gw)
		}
	}
	// An IPv4 destination never takes the IPv6 default route.
	v6only := buildRouteTable([]route{mk("::/0", "fd77::1", 4)})
	if h, ok := v6only.lookup(a16("10.1.1.1")); ok {
		t.Errorf("IPv4 destination matched an IPv6 route: %+v", h)
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	m := &Mirror{resolveQ: make(chan neighKey, 1)}
	m.routes.Store(buildRouteTable([]route{{dst: mask(a16("10.0.0.0"), 104), bits: 104, ifindex: 2}}))
	nt := neighTable{{2, a16("10.0.0.5")}: {1, 2, 3, 4, 5, 6}}
	m.neighs.Store(&nt)
	dst := a16("10.0.0.5")
	allocs := testing.AllocsPerRun(1000, func() {
		h, _ := m.Route(dst)
		m.Neighbor(h.Ifindex, h.Gateway)
		m.Resolve(2, dst)
	})
	if allocs != 0 {
		t.Fatalf("route and neighbour lookups allocate %.1f times", allocs)
	}
}

// The mirror follows the kernel of a lab gateway: connected routes, a route
// added later, neighbours learned by the kernel, and resolution on request.
func TestMirrorFollowsKernel(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	// Created inside the namespace with ns nil, as tandemd does: the
	// resolver goroutine must still work there.
	var m *Mirror
	labtest.Do(t, l.GW1, func() (err error) {
		m, err = New(nil)
		return err
	})
	defer m.Close()
	var outIdx int
	labtest.Do(t, l.GW1, func() error {
		ifi, err := net.InterfaceByName(lab.IfOutside)
		outIdx = ifi.Index
		return err
	})
	server := lab.ServerAddr.As16()
	hop, ok := m.Route(server)
	if !ok || hop.Ifindex != outIdx || hop.Gateway != server {
		t.Fatalf("route to the server: %+v %v, want on-link via ifindex %d", hop, ok, outIdx)
	}
	if _, ok := m.Neighbor(outIdx, server); ok {
		t.Fatal("server resolved before anything asked")
	}
	// Ask the kernel to resolve the server; the answer arrives as a
	// neighbour notification.
	m.Resolve(outIdx, server)
	var mac [6]byte
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if mac, ok = m.Neighbor(outIdx, server); ok {
			break
		}
	}
	want, err := lab.HardwareAddr(l.Server, lab.IfClient)
	if err != nil {
		t.Fatal(err)
	}
	if !ok || net.HardwareAddr(mac[:]).String() != want.String() {
		t.Fatalf("server's MAC: %v %v, want %v (stats %+v, err %v)", net.HardwareAddr(mac[:]), ok, want, m.Stats(), m.Err())
	}
	// A route added later is seen without polling.
	labtest.Do(t, l.GW1, func() error {
		link, err := netlink.LinkByName(lab.IfOutside)
		if err != nil {
			return err
		}
		_, dst, _ := net.ParseCIDR("198.51.100.0/24")
		return netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Gw: lab.ServerAddr.AsSlice()})
	})
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if hop, ok = m.Route(a16("198.51.100.7")); ok {
			break
		}
	}
	if !ok || hop.Gateway != server {
		t.Fatalf("route added later: %+v %v", hop, ok)
	}
}
