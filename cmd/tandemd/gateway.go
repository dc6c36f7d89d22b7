package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/dataplane"
	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/internal/clock"
)

// plan is what tandemd derives from a config: the connection table's and
// the engine's configuration, and the addresses it claims on the kernel's
// interfaces (VIPs and SNAT addresses, so that the kernel answers ARP and
// neighbour discovery for them).
type plan struct {
	table  conntrack.Config
	engine dataplane.Config
	claims []claim
}

type claim struct {
	ifname string
	prefix netip.Prefix
	nat    bool // an SNAT address (not a VIP)
}

// maxPoolAddrs bounds how many addresses an SNAT range expands to.
const maxPoolAddrs = 4096

func protoNumber(p config.Protocol) uint8 {
	switch p {
	case config.ProtoTCP:
		return 6
	case config.ProtoUDP:
		return 17
	case config.ProtoICMP:
		return 1
	case config.ProtoICMPv6:
		return 58
	}
	return 0
}

// planFrom turns a validated config into a plan.
func planFrom(c *config.Config) (*plan, error) {
	inName, in, ok := c.InterfaceByRole(config.RoleInside)
	if !ok {
		return nil, errors.New("config has no inside interface")
	}
	outName, out, ok := c.InterfaceByRole(config.RoleOutside)
	if !ok {
		return nil, errors.New("config has no outside interface")
	}
	if in.Queues != out.Queues {
		return nil, fmt.Errorf("interfaces.%s.queues = %d and interfaces.%s.queues = %d: a worker serves the same queue of both, so they must be equal",
			inName, in.Queues, outName, out.Queues)
	}
	p := &plan{}
	e := &p.engine
	e.Queues = in.Queues
	e.Cores = make([]int, in.Queues)
	for q := range e.Cores {
		e.Cores[q] = -1
		for _, w := range c.Cores.Workers {
			inQ, outQ := slices.Contains(w.Queues[inName], q), slices.Contains(w.Queues[outName], q)
			if inQ != outQ {
				return nil, fmt.Errorf("cores.workers (core %d): queue %d of %s and of %s must be served by the same worker", w.Core, q, inName, outName)
			}
			if inQ {
				e.Cores[q] = w.Core
			}
		}
	}
	vips := func(ifname string, is4 bool) netip.Addr {
		for _, a := range c.HA.VIPs[ifname] {
			if a.Is4() == is4 {
				return a.Addr
			}
		}
		for _, a := range c.Interfaces[ifname].Addresses {
			if a.Addr().Is4() == is4 {
				return a.Addr()
			}
		}
		return netip.Addr{}
	}
	e.Inside = dataplane.Interface{Name: inName, Addr4: vips(inName, true), Addr6: vips(inName, false)}
	e.Outside = dataplane.Interface{Name: outName, Addr4: vips(outName, true), Addr6: vips(outName, false)}

	for _, name := range c.InterfaceNames() {
		for _, a := range c.Interfaces[name].Addresses {
			e.Local = append(e.Local, a.Addr())
		}
		for _, v := range c.HA.VIPs[name] {
			e.Local = append(e.Local, v.Addr)
			p.claims = append(p.claims, claim{name, netip.PrefixFrom(v.Addr, hostBits(v.Addr)), false})
		}
	}

	var err error
	if e.Attach, err = xdp.ParseAttachMode(c.XDP.AttachMode); err != nil {
		return nil, err
	}
	if e.Bind, err = xsk.ParseBindMode(c.XDP.BindMode); err != nil {
		return nil, err
	}
	e.FrameSize = uint32(c.XDP.FrameSize)
	e.RingSize = max(c.XDP.RxRing, c.XDP.TxRing, c.XDP.FillRing, c.XDP.CompletionRing)
	e.NeedWakeup = c.BusyPoll.IdleFallback != config.IdlePoll
	e.SpinWhenIdle = c.BusyPoll.SpinWhenIdle
	e.Nice = c.Cores.WorkerNice
	if c.BusyPoll.Enabled {
		e.BusyPoll = xsk.BusyPoll{Prefer: true, Timeout: c.BusyPoll.Timeout.Duration, Budget: c.BusyPoll.Budget}
	}

	// Connection table.
	t := &p.table
	t.MaxEntries = c.Conntrack.MaxEntries
	t.TCPPickup = c.Conntrack.TCPPickup
	t.Self = uint8(c.Member.ID)
	to := conntrack.DefaultTimeouts()
	ct := c.Conntrack.Timeouts
	to.SynSent, to.SynRecv, to.Established = ct.TCPSynSent.Duration, ct.TCPSynRecv.Duration, ct.TCPEstablished.Duration
	to.FinWait, to.CloseWait, to.LastAck = ct.TCPFinWait.Duration, ct.TCPCloseWait.Duration, ct.TCPLastAck.Duration
	to.TimeWait, to.Close = ct.TCPTimeWait.Duration, ct.TCPClose.Duration
	to.UDP, to.UDPStream, to.ICMP = ct.UDP.Duration, ct.UDPStream.Duration, ct.ICMP.Duration
	t.Timeouts = to

	// NAT: one SNAT pool per family, on the outside interface.
	e.Policy = dataplane.Policy{AllowFromInside: c.Policy.AllowFromInside, AllowRelated: c.Policy.AllowRelated, SNAT: -1, SNAT6: -1}
	if c.NAT.Enabled {
		var v4, v6 []netip.Addr
		for _, r := range c.NAT.SNAT {
			for a := r.From; a.IsValid() && a.Compare(r.To) <= 0; a = a.Next() {
				if len(v4)+len(v6) >= maxPoolAddrs {
					return nil, fmt.Errorf("nat.snat: more than %d addresses", maxPoolAddrs)
				}
				if a.Is4() {
					v4 = append(v4, a)
				} else {
					v6 = append(v6, a)
				}
				p.claims = append(p.claims, claim{outName, netip.PrefixFrom(a, hostBits(a)), true})
			}
		}
		for _, pool := range [][]netip.Addr{v4, v6} {
			if len(pool) == 0 {
				continue
			}
			if pool[0].Is4() {
				e.Policy.SNAT = len(t.SNAT)
			} else {
				e.Policy.SNAT6 = len(t.SNAT)
			}
			t.SNAT = append(t.SNAT, conntrack.SNATPool{Addrs: pool, PortMin: c.NAT.Ports.Lo, PortMax: c.NAT.Ports.Hi, PreservePort: c.NAT.PreservePorts})
		}
		for i, f := range c.NAT.Forward {
			for port := uint32(f.Ports.Lo); port <= uint32(f.Ports.Hi); port++ {
				if len(t.DNAT) >= 256 {
					return nil, fmt.Errorf("nat.forward[%d]: more than 256 forwarded ports in all", i)
				}
				rule := conntrack.DNATRule{Proto: protoNumber(f.Protocol), Addr: f.Address.Addr, Port: uint16(port), To: []netip.Addr{f.ToAddress.Addr}}
				if f.ToPort != 0 {
					tp := uint16(uint32(f.ToPort) + port - uint32(f.Ports.Lo))
					rule.ToPortMin, rule.ToPortMax = tp, tp
				}
				t.DNAT = append(t.DNAT, rule)
			}
		}
	}
	for i, r := range c.Policy.Allow {
		rule := dataplane.Rule{Name: r.Name, Proto: protoNumber(r.Protocol)}
		if rule.Name == "" {
			rule.Name = fmt.Sprintf("allow[%d]", i)
		}
		switch r.From {
		case config.SideInside:
			rule.From = dataplane.SideInside
		case config.SideOutside:
			rule.From = dataplane.SideOutside
		}
		for _, s := range r.Source {
			rule.Sources = append(rule.Sources, s.Masked())
		}
		for _, d := range r.Destination {
			rule.Destinations = append(rule.Destinations, d.Masked())
		}
		for _, pr := range r.Ports {
			rule.Ports = append(rule.Ports, dataplane.PortRange{Min: pr.Lo, Max: pr.Hi})
		}
		e.Policy.Rules = append(e.Policy.Rules, rule)
	}
	return p, nil
}

func hostBits(a netip.Addr) int { return a.BitLen() }

// gateway is a running gateway: table, engine, claimed addresses.
type gateway struct {
	clk     *clock.Coarse
	log     *slog.Logger
	table   *conntrack.Table
	engine  *dataplane.Engine
	planned []claim // the addresses the active member holds
	claimed []claim
	stopAge chan struct{}
}

// startGateway starts the gateway in the calling thread's namespace.
// records, if not nil, receives the table's delta records (the sync path's
// sink). claimNow: claim the VIPs and SNAT addresses at once (a member
// without peers); otherwise the HA role machine claims them when this
// member becomes active.
func startGateway(c *config.Config, log *slog.Logger, records conntrack.RecordSink, claimNow bool) (g *gateway, err error) {
	p, err := planFrom(c)
	if err != nil {
		return nil, err
	}
	if v, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil && strings.TrimSpace(string(v)) == "1" {
		log.Warn("the kernel forwards IPv4 (net.ipv4.ip_forward=1): packets it is handed could bypass Tandem's policy; set it to 0")
	}
	g = &gateway{log: log, stopAge: make(chan struct{})}
	// A clock read per packet costs more than the rest of a lookup's
	// arithmetic; timeouts are seconds (docs/performance.md).
	g.clk = clock.NewCoarse(time.Millisecond)
	p.table.Clock = g.clk
	p.table.Records = records
	if g.table, err = conntrack.New(p.table); err != nil {
		return nil, fmt.Errorf("connection table: %w", err)
	}
	defer func() {
		if err != nil {
			g.unclaim()
		}
	}()
	g.planned = p.claims
	if claimNow {
		if err := g.claim(false); err != nil {
			return nil, err
		}
	}
	p.engine.Table = g.table
	if g.engine, err = dataplane.New(p.engine); err != nil {
		return nil, err
	}
	if err = g.engine.Start(); err != nil {
		if serr := g.engine.Stop(); serr != nil {
			log.Warn("releasing the engine after a failed start", "err", serr)
		}
		return nil, fmt.Errorf("%w (see cores.workers and cores.worker_nice)", err)
	}
	go g.age()
	log.Info("gateway running", "member", c.Member.Name, "inside", p.engine.Inside.Name, "outside", p.engine.Outside.Name,
		"queues", p.engine.Queues, "cores", p.engine.Cores, "attach", g.engine.AttachModes(), "table", p.table.MaxEntries)
	return g, nil
}

// age sweeps expired connections out of the table.
func (g *gateway) age() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-g.stopAge:
			return
		case <-tick.C:
			g.table.Sweep(4096)
		}
	}
}

func (g *gateway) stop() error {
	close(g.stopAge)
	err := g.engine.Stop()
	g.unclaim()
	g.clk.Close()
	return err
}

// claim claims the planned addresses that are not claimed yet, and with
// announceThem tells the links (gratuitous ARP, unsolicited NA): all the
// addresses first, then every announcement from one socket, so that a
// takeover moves the neighbours within a millisecond or so.
func (g *gateway) claim(announceThem bool) error {
	var fresh []claim
	for _, cl := range g.planned {
		if slices.Contains(g.claimed, cl) {
			continue
		}
		if err := claimAddr(cl); err != nil {
			return err
		}
		g.claimed = append(g.claimed, cl)
		fresh = append(fresh, cl)
	}
	if announceThem {
		g.announce(fresh)
	}
	return nil
}

// announceClaimed repeats the announcements of the claimed addresses.
func (g *gateway) announceClaimed() { g.announce(g.claimed) }

func (g *gateway) announce(cls []claim) {
	if len(cls) == 0 {
		return
	}
	a, err := newAnnouncer()
	if err != nil {
		g.log.Warn("announcing claimed addresses", "err", err)
		return
	}
	defer a.close()
	for _, cl := range cls {
		if err := a.announce(cl.ifname, cl.prefix.Addr()); err != nil {
			g.log.Warn("announcing a claimed address", "err", err)
		}
	}
}

// natAddrs returns the addresses connections are translated to (the SNAT
// pool): the ones the kernel guard covers.
func (g *gateway) natAddrs() []netip.Addr {
	var out []netip.Addr
	for _, cl := range g.planned {
		if cl.nat {
			out = append(out, cl.prefix.Addr())
		}
	}
	return out
}

// releaseStale removes the planned addresses found on the interfaces
// although this run has not claimed them, and returns how many.
func (g *gateway) releaseStale() int {
	n := 0
	for _, cl := range g.planned {
		if slices.Contains(g.claimed, cl) {
			continue
		}
		if releaseAddr(cl) == nil {
			n++
		}
	}
	return n
}

func (g *gateway) unclaim() {
	for _, cl := range g.claimed {
		if err := releaseAddr(cl); err != nil {
			g.log.Warn("releasing address", "address", cl.prefix, "interface", cl.ifname, "err", err)
		}
	}
	g.claimed = nil
}

func claimAddr(cl claim) error {
	l, err := netlink.LinkByName(cl.ifname)
	if err != nil {
		return fmt.Errorf("claiming %s on %s: %w", cl.prefix, cl.ifname, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: cl.prefix.Addr().AsSlice(), Mask: net.CIDRMask(cl.prefix.Bits(), cl.prefix.Addr().BitLen())}, Flags: nodad}
	if err := netlink.AddrReplace(l, a); err != nil {
		return fmt.Errorf("claiming %s on %s: %w", cl.prefix, cl.ifname, err)
	}
	return nil
}

func releaseAddr(cl claim) error {
	l, err := netlink.LinkByName(cl.ifname)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: cl.prefix.Addr().AsSlice(), Mask: net.CIDRMask(cl.prefix.Bits(), cl.prefix.Addr().BitLen())}}
	return netlink.AddrDel(l, a)
}

// nodad: no duplicate address detection for a claimed IPv6 address; the
// cluster, not DAD, decides who holds it.
const nodad = 0x02 // IFA_F_NODAD
