package nexthop

import "net/netip"

// StaticRoute is a route for Static.
type StaticRoute struct {
	Prefix  netip.Prefix
	Ifindex int
	Gateway netip.Addr // invalid: on-link
}

// StaticNeighbor is a neighbour entry for Static.
type StaticNeighbor struct {
	Ifindex int
	Addr    netip.Addr
	MAC     [6]byte
}

// Static returns a mirror of fixed tables, with no netlink behind it, for
// tests and benchmarks. Resolve requests are counted and dropped.
func Static(routes []StaticRoute, neighbors []StaticNeighbor) *Mirror {
	m := &Mirror{resolveQ: make(chan neighKey), done: make(chan struct{})}
	var rs []route
	for _, r := range routes {
		bits := r.Prefix.Bits()
		if r.Prefix.Addr().Is4() {
			bits += 96
		}
		rt := route{dst: mask(r.Prefix.Addr().As16(), bits), bits: bits, ifindex: r.Ifindex}
		if r.Gateway.IsValid() {
			rt.gw, rt.hasGW = r.Gateway.As16(), true
		}
		rs = append(rs, rt)
	}
	m.routes.Store(buildRouteTable(rs))
	nt := neighTable{}
	for _, n := range neighbors {
		nt[neighKey{int32(n.Ifindex), n.Addr.As16()}] = n.MAC
	}
	m.neighs.Store(&nt)
	m.gen.Store(1)
	close(m.done)
	return m
}

// SetNeighbor sets (or, with a zero mac, removes) a neighbour entry and
// publishes the change, as a netlink notification would. For Static
// mirrors in tests and benchmarks.
func (m *Mirror) SetNeighbor(ifindex int, addr netip.Addr, mac [6]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.neighs.Load()
	nt := make(neighTable, len(old)+1)
	for k, v := range old {
		nt[k] = v
	}
	k := neighKey{int32(ifindex), addr.As16()}
	if mac == ([6]byte{}) {
		delete(nt, k)
	} else {
		nt[k] = mac
	}
	m.neighs.Store(&nt)
	m.gen.Add(1)
}
