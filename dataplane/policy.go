package dataplane

import (
	"net/netip"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// Side says where a new connection started.
type Side uint8

const (
	SideAny Side = iota
	SideInside
	SideOutside
)

// PortRange is an inclusive range of destination ports.
type PortRange struct{ Min, Max uint16 }

// Rule allows new connections that match every field; an empty list
// matches everything, Proto 0 any protocol.
type Rule struct {
	Name         string
	From         Side
	Sources      []netip.Prefix
	Destinations []netip.Prefix
	Proto        uint8
	Ports        []PortRange // TCP and UDP destination ports
}

func (r *Rule) matches(from Side, k *conntrack.Key, src, dst netip.Addr) bool {
	if r.From != SideAny && r.From != from || r.Proto != 0 && r.Proto != k.Proto {
		return false
	}
	if len(r.Ports) > 0 {
		ok := false
		for _, p := range r.Ports {
			ok = ok || k.DstPort >= p.Min && k.DstPort <= p.Max
		}
		if !ok {
			return false
		}
	}
	return anyContains(r.Sources, src) && anyContains(r.Destinations, dst)
}

func anyContains(ps []netip.Prefix, a netip.Addr) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Policy is the stateful policy. Packets of known connections pass both
// ways (conntrack drops those invalid for their state). A new connection
// from the inside is allowed if AllowFromInside is set or a rule matches,
// and gets source NAT where a pool is configured; one from the outside is
// allowed if a DNAT forward or a rule matches. Everything else is dropped
// and counted (drop_policy).
type Policy struct {
	AllowFromInside bool
	// AllowRelated lets ICMP errors about a tracked connection through,
	// both ways, translated as the connection is.
	AllowRelated bool
	// SNAT and SNAT6 are the conntrack SNAT pool indexes for IPv4 and IPv6
	// connections from the inside; negative: no source NAT.
	SNAT, SNAT6 int
	Rules       []Rule
}

// decide returns whether a new connection from side from is allowed, and
// the NAT it gets. src and dst are the packet's addresses.
func (p *Policy) decide(t *conntrack.Table, from Side, k *conntrack.Key, src, dst netip.Addr) (conntrack.NATRequest, bool) {
	if from == SideOutside {
		if nat, ok := t.MatchDNAT(*k); ok {
			return nat, true
		}
	}
	allowed := from == SideInside && p.AllowFromInside
	for i := 0; !allowed && i < len(p.Rules); i++ {
		allowed = p.Rules[i].matches(from, k, src, dst)
	}
	if !allowed {
		return conntrack.NATRequest{}, false
	}
	if from == SideInside {
		idx := p.SNAT
		if k.Family == conntrack.FamilyIPv6 {
			idx = p.SNAT6
		}
		if idx >= 0 {
			return conntrack.NATRequest{Kind: conntrack.NATSource, Index: uint8(idx)}, true
		}
	}
	return conntrack.NATRequest{}, true
}
