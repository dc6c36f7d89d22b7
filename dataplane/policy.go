package dataplane

import (
	"net/netip"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// Rule allows new connections from the outside to destinations in Prefix,
// protocol Proto (0: any), destination ports PortMin..PortMax (0, 0: any).
type Rule struct {
	Prefix           netip.Prefix
	Proto            uint8
	PortMin, PortMax uint16
}

// Policy is the stateful policy: new connections from the inside are
// allowed (and source-NATed where a pool is configured); from the outside
// only those a DNAT rule or an allow rule admits; packets of known
// connections pass both ways; invalid packets are dropped by conntrack.
type Policy struct {
	// SNAT is the index of the conntrack SNAT pool for IPv4 connections
	// from the inside; negative: no source NAT.
	SNAT int
	// SNAT6 is the same for IPv6 (NAT66); negative: none.
	SNAT6 int
	// AllowFromOutside lists the rules for new connections from the outside.
	AllowFromOutside []Rule
}

// fromOutside decides a new connection from the outside.
func (p *Policy) fromOutside(t *conntrack.Table, k conntrack.Key, dst netip.Addr) (conntrack.NATRequest, bool) {
	if nat, ok := t.MatchDNAT(k); ok {
		return nat, true
	}
	for i := range p.AllowFromOutside {
		r := &p.AllowFromOutside[i]
		if r.Proto != 0 && r.Proto != k.Proto {
			continue
		}
		if r.PortMax != 0 && (k.DstPort < r.PortMin || k.DstPort > r.PortMax) {
			continue
		}
		if r.Prefix.Contains(dst) {
			return conntrack.NATRequest{}, true
		}
	}
	return conntrack.NATRequest{}, false
}

// fromInside returns the NAT a new connection from the inside gets.
func (p *Policy) fromInside(family uint8) conntrack.NATRequest {
	idx := p.SNAT
	if family == 6 {
		idx = p.SNAT6
	}
	if idx < 0 {
		return conntrack.NATRequest{}
	}
	return conntrack.NATRequest{Kind: conntrack.NATSource, Index: uint8(idx)}
}
