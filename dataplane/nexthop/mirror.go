package nexthop

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Addr is an IP address as the dataplane holds it: 16 bytes, IPv4 v4-mapped
// (::ffff:a.b.c.d), as package packet decodes it.
type Addr = [16]byte

// Hop is where a packet goes next.
type Hop struct {
	Ifindex int
	// Gateway is the router to send to; for an on-link destination it is
	// the destination itself.
	Gateway Addr
}

// ResolveInterval is the least time between two resolution requests for the
// same address.
const ResolveInterval = 200 * time.Millisecond

// Stats counts what the mirror did.
type Stats struct {
	NeighUpdates, RouteUpdates uint64 // netlink notifications applied
	ResolveRequests            uint64 // NTF_USE requests sent to the kernel
	ResolveDropped             uint64 // requests not queued (queue full)
	ResolveErrors              uint64 // requests the kernel refused
}

// Mirror is a live copy of the kernel's main routing table and neighbour
// table. Route, Neighbor and Resolve are safe for concurrent use and do not
// allocate.
type Mirror struct {
	routes atomic.Pointer[routeTable]
	neighs atomic.Pointer[neighTable]
	// gen counts published changes: a cache of lookups made at one
	// generation is valid while Generation returns it.
	gen atomic.Uint64

	mu     sync.Mutex // serialises updates (the two subscription goroutines)
	routeL []route    // the routes the current table was built from

	resolveQ chan neighKey
	ns       *netns.NsHandle
	done     chan struct{}
	wg       sync.WaitGroup
	errs     chan error

	neighUpdates, routeUpdates                     atomic.Uint64
	resolveRequests, resolveDropped, resolveErrors atomic.Uint64
}

type neighKey struct {
	ifindex int32
	ip      Addr
}

type neighTable map[neighKey][6]byte

type route struct {
	dst     Addr
	bits    int // prefix length in the 128-bit (v4-mapped) space
	ifindex int
	gw      Addr
	hasGW   bool
	prio    int
}

// New starts a mirror of the tables of namespace ns (nil: the calling
// thread's namespace, captured now, so that the mirror's own goroutines work
// there too whatever thread they run on). It returns once the existing
// entries are loaded.
func New(ns *netns.NsHandle) (*Mirror, error) {
	if ns == nil {
		cur, err := netns.Get()
		if err != nil {
			return nil, fmt.Errorf("finding the current network namespace: %w", err)
		}
		ns = &cur
	}
	m := &Mirror{
		resolveQ: make(chan neighKey, 256),
		ns:       ns,
		done:     make(chan struct{}),
		errs:     make(chan error, 4),
	}
	m.routes.Store(&routeTable{})
	empty := neighTable{}
	m.neighs.Store(&empty)

	neighCh := make(chan netlink.NeighUpdate, 1024)
	routeCh := make(chan netlink.RouteUpdate, 1024)
	onErr := func(err error) {
		select {
		case m.errs <- err:
		default:
		}
	}
	if err := netlink.NeighSubscribeWithOptions(neighCh, m.done, netlink.NeighSubscribeOptions{Namespace: ns, ListExisting: true, ErrorCallback: onErr}); err != nil {
		return nil, fmt.Errorf("subscribing to neighbour updates: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(routeCh, m.done, netlink.RouteSubscribeOptions{Namespace: ns, ListExisting: true, ErrorCallback: onErr}); err != nil {
		close(m.done)
		return nil, fmt.Errorf("subscribing to route updates: %w", err)
	}
	// Load what exists before returning, so a first packet finds it.
	if err := m.loadExisting(); err != nil {
		close(m.done)
		return nil, err
	}
	m.wg.Add(3)
	go func() { defer m.wg.Done(); m.applyNeighs(neighCh) }()
	go func() { defer m.wg.Done(); m.applyRoutes(routeCh) }()
	go func() { defer m.wg.Done(); m.resolver() }()
	return m, nil
}

func (m *Mirror) handle() (*netlink.Handle, error) {
	return netlink.NewHandleAt(*m.ns)
}

func (m *Mirror) loadExisting() error {
	h, err := m.handle()
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	defer h.Close()
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	neighs, err := h.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing neighbours: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range routes {
		m.updateRouteLocked(unix.RTM_NEWROUTE, r)
	}
	nt := neighTable{}
	for _, n := range neighs {
		setNeigh(nt, unix.RTM_NEWNEIGH, n)
	}
	m.neighs.Store(&nt)
	m.gen.Add(1)
	return nil
}

// Generation returns a number that changes whenever either table does.
// Lookups cached with it stay valid while it returns the same value; it is
// one atomic load.
func (m *Mirror) Generation() uint64 { return m.gen.Load() }

// Close stops the subscriptions.
func (m *Mirror) Close() error {
	select {
	case <-m.done:
		return nil
	default:
	}
	close(m.done)
	m.wg.Wait()
	return nil
}

// Err returns an error a subscription reported since the last call, or nil.
func (m *Mirror) Err() error {
	select {
	case err := <-m.errs:
		return err
	default:
		return nil
	}
}

// Stats returns the mirror's counters.
func (m *Mirror) Stats() Stats {
	return Stats{
		NeighUpdates: m.neighUpdates.Load(), RouteUpdates: m.routeUpdates.Load(),
		ResolveRequests: m.resolveRequests.Load(), ResolveDropped: m.resolveDropped.Load(), ResolveErrors: m.resolveErrors.Load(),
	}
}

// Route returns the next hop for dst from the main table.
func (m *Mirror) Route(dst Addr) (Hop, bool) {
	return m.routes.Load().lookup(dst) // acquire: the table is fully built
}

// Neighbor returns the MAC address of ip on interface ifindex, if the kernel
// holds a usable entry for it.
func (m *Mirror) Neighbor(ifindex int, ip Addr) ([6]byte, bool) {
	mac, ok := (*m.neighs.Load())[neighKey{int32(ifindex), ip}]
	return mac, ok
}

// Resolve asks the kernel, from another goroutine, to resolve ip on
// interface ifindex. It never blocks; a request that finds the queue full is
// counted and dropped (the next packet asks again).
func (m *Mirror) Resolve(ifindex int, ip Addr) {
	select {
	case m.resolveQ <- neighKey{int32(ifindex), ip}:
	default:
		m.resolveDropped.Add(1)
	}
}

func (m *Mirror) resolver() {
	last := map[neighKey]time.Time{}
	h, err := m.handle()
	if err != nil {
		m.errs <- fmt.Errorf("opening netlink for neighbour resolution: %w", err)
		return
	}
	defer h.Close()
	for {
		select {
		case <-m.done:
			return
		case k := <-m.resolveQ:
			now := time.Now()
			if t, ok := last[k]; ok && now.Sub(t) < ResolveInterval {
				continue
			}
			last[k] = now
			if len(last) > 4096 {
				for key, t := range last {
					if now.Sub(t) > ResolveInterval {
						delete(last, key)
					}
				}
			}
			m.resolveRequests.Add(1)
			// NTF_USE makes the kernel run its own resolution for the entry
			// (neigh_event_send), as if it had a packet to send.
			n := &netlink.Neigh{LinkIndex: int(k.ifindex), IP: ipOf(k.ip), Flags: unix.NTF_USE, State: netlink.NUD_NONE}
			if Is4(k.ip) {
				n.Family = unix.AF_INET
			} else {
				n.Family = unix.AF_INET6
			}
			if err := h.NeighSet(n); err != nil {
				m.resolveErrors.Add(1)
			}
		}
	}
}

func (m *Mirror) applyNeighs(ch <-chan netlink.NeighUpdate) {
	for u := range ch {
		m.mu.Lock()
		old := *m.neighs.Load()
		nt := make(neighTable, len(old)+1)
		for k, v := range old {
			nt[k] = v
		}
		setNeigh(nt, u.Type, u.Neigh)
		m.neighs.Store(&nt) // release: the new map is complete before it is seen
		m.gen.Add(1)        // after the store: a reader that sees the new generation sees the new map
		m.mu.Unlock()
		m.neighUpdates.Add(1)
	}
}

func (m *Mirror) applyRoutes(ch <-chan netlink.RouteUpdate) {
	for u := range ch {
		m.mu.Lock()
		m.updateRouteLocked(u.Type, u.Route)
		m.mu.Unlock()
		m.routeUpdates.Add(1)
	}
}

// usable are the neighbour states whose MAC address may be used.
const usable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

func setNeigh(nt neighTable, typ uint16, n netlink.Neigh) {
	ip, ok := addrOf(n.IP)
	if !ok {
		return
	}
	k := neighKey{int32(n.LinkIndex), ip}
	if typ == unix.RTM_DELNEIGH || n.State&usable == 0 || len(n.HardwareAddr) != 6 {
		delete(nt, k)
		return
	}
	var mac [6]byte
	copy(mac[:], n.HardwareAddr)
	nt[k] = mac
}

// updateRouteLocked applies one route change and publishes a rebuilt table.
// Precondition: m.mu is held.
func (m *Mirror) updateRouteLocked(typ uint16, r netlink.Route) {
	if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN || r.Type != 0 && r.Type != unix.RTN_UNICAST {
		return
	}
	rt, ok := routeOf(r)
	if !ok {
		return
	}
	kept := m.routeL[:0:0]
	for _, x := range m.routeL {
		if x.dst == rt.dst && x.bits == rt.bits && x.prio == rt.prio {
			continue
		}
		kept = append(kept, x)
	}
	if typ == unix.RTM_NEWROUTE {
		kept = append(kept, rt)
	}
	m.routeL = kept
	m.routes.Store(buildRouteTable(kept)) // release: the table is complete before it is seen
	m.gen.Add(1)
}

func routeOf(r netlink.Route) (route, bool) {
	var rt route
	if r.Dst == nil {
		// A default route; its family comes from the gateway.
		if r.Gw == nil {
			return rt, false
		}
		if r.Gw.To4() != nil {
			rt.dst, rt.bits = v4Prefix, 96 // 0.0.0.0/0, v4-mapped
		}
	} else {
		ones, bits := r.Dst.Mask.Size()
		a, ok := addrOf(r.Dst.IP)
		if !ok {
			return rt, false
		}
		rt.dst = a
		rt.bits = ones
		if bits == 32 {
			rt.bits += 96
		}
	}
	rt.dst = mask(rt.dst, rt.bits)
	rt.ifindex, rt.prio = r.LinkIndex, r.Priority
	if r.Gw != nil {
		if gw, ok := addrOf(r.Gw); ok {
			rt.gw, rt.hasGW = gw, true
		}
	}
	if rt.ifindex == 0 && len(r.MultiPath) > 0 {
		rt.ifindex = r.MultiPath[0].LinkIndex
		if gw, ok := addrOf(r.MultiPath[0].Gw); ok {
			rt.gw, rt.hasGW = gw, true
		}
	}
	return rt, rt.ifindex != 0
}

// routeTable holds the routes of each family, IPv4 ones as v4-mapped
// prefixes of 96 bits or more, so the families never match each other.
type routeTable struct {
	v4, v6 familyTable
}

// familyTable holds one map per prefix length present, longest first.
type familyTable struct {
	lengths []int
	byLen   map[int]map[Addr]route
}

func buildRouteTable(routes []route) *routeTable {
	t := &routeTable{}
	for _, r := range routes {
		f := &t.v6
		if Is4(r.dst) && r.bits >= 96 {
			f = &t.v4
		}
		f.add(r)
	}
	return t
}

func (f *familyTable) add(r route) {
	if f.byLen == nil {
		f.byLen = map[int]map[Addr]route{}
	}
	m, ok := f.byLen[r.bits]
	if !ok {
		m = map[Addr]route{}
		f.byLen[r.bits] = m
		f.lengths = append(f.lengths, r.bits)
		for j := len(f.lengths) - 1; j > 0 && f.lengths[j] > f.lengths[j-1]; j-- {
			f.lengths[j], f.lengths[j-1] = f.lengths[j-1], f.lengths[j]
		}
	}
	if old, ok := m[r.dst]; ok && old.prio <= r.prio {
		return // the lower metric wins
	}
	m[r.dst] = r
}

func (t *routeTable) lookup(dst Addr) (Hop, bool) {
	f := &t.v6
	if Is4(dst) {
		f = &t.v4
	}
	for _, bits := range f.lengths {
		r, ok := f.byLen[bits][mask(dst, bits)]
		if !ok {
			continue
		}
		h := Hop{Ifindex: r.ifindex, Gateway: dst}
		if r.hasGW {
			h.Gateway = r.gw
		}
		return h, true
	}
	return Hop{}, false
}

var v4Prefix = Addr{10: 0xff, 11: 0xff}

func mask(a Addr, bits int) Addr {
	var out Addr
	for i := 0; i < 16; i++ {
		switch {
		case bits >= 8:
			out[i] = a[i]
			bits -= 8
		case bits > 0:
			out[i] = a[i] & byte(0xff<<(8-bits))
			bits = 0
		}
	}
	return out
}

// Is4 reports whether a is a v4-mapped IPv4 address.
func Is4(a Addr) bool {
	return a[0]|a[1]|a[2]|a[3]|a[4]|a[5]|a[6]|a[7]|a[8]|a[9] == 0 && a[10] == 0xff && a[11] == 0xff
}

func addrOf(ip net.IP) (Addr, bool) {
	var a Addr
	if v4 := ip.To4(); v4 != nil {
		copy(a[:], v4Prefix[:12])
		copy(a[12:], v4)
		return a, true
	}
	if len(ip) != 16 {
		return a, false
	}
	copy(a[:], ip)
	return a, !Is4(a) // a v4-mapped IPv6 address would alias IPv4
}

func ipOf(a Addr) net.IP {
	if Is4(a) {
		return net.IPv4(a[12], a[13], a[14], a[15]).To4()
	}
	return net.IP(a[:])
}
