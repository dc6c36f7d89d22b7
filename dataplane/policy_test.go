package dataplane

import (
	"net/netip"
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

func TestPolicyDecide(t *testing.T) {
	table, err := conntrack.New(conntrack.Config{
		MaxEntries: 1024,
		SNAT:       []conntrack.SNATPool{{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}, PortMin: 1024, PortMax: 2047}},
		DNAT: []conntrack.DNATRule{{Proto: 6, Addr: netip.MustParseAddr("192.0.2.100"), Port: 443,
			To: []netip.Addr{netip.MustParseAddr("10.0.0.5")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{
		AllowFromInside: true, SNAT: 0, SNAT6: -1,
		Rules: []Rule{
			{Name: "ssh-to-dmz", From: SideOutside, Destinations: []netip.Prefix{netip.MustParsePrefix("10.0.9.0/24")}, Proto: 6, Ports: []PortRange{{22, 22}}},
			{Name: "monitoring", From: SideAny, Sources: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, Proto: 1},
		},
	}
	key := func(proto uint8, src, dst string, dport uint16) (conntrack.Key, netip.Addr, netip.Addr) {
		s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
		var s16, d16 [16]byte
		copy(s16[:4], s.AsSlice())
		copy(d16[:4], d.AsSlice())
		return conntrack.MakeKey(conntrack.FamilyIPv4, proto, s16, d16, 40000, dport), s, d
	}
	cases := []struct {
		name    string
		from    Side
		proto   uint8
		src     string
		dst     string
		dport   uint16
		allowed bool
		nat     conntrack.NATKind
	}{
		{"inside out, source NAT", SideInside, 17, "10.0.0.9", "203.0.113.7", 53, true, conntrack.NATSource},
		{"outside in, no rule", SideOutside, 6, "203.0.113.7", "10.0.0.9", 80, false, conntrack.NATNone},
		{"outside in, rule by port and prefix", SideOutside, 6, "203.0.113.7", "10.0.9.4", 22, true, conntrack.NATNone},
		{"outside in, rule's port does not match", SideOutside, 6, "203.0.113.7", "10.0.9.4", 23, false, conntrack.NATNone},
		{"outside in, rule's protocol does not match", SideOutside, 17, "203.0.113.7", "10.0.9.4", 22, false, conntrack.NATNone},
		{"outside in, by source prefix", SideOutside, 1, "198.51.100.3", "10.0.0.9", 0, true, conntrack.NATNone},
		{"outside in, DNAT forward", SideOutside, 6, "203.0.113.7", "192.0.2.100", 443, true, conntrack.NATDestination},
	}
	for _, c := range cases {
		k, src, dst := key(c.proto, c.src, c.dst, c.dport)
		nat, ok := p.decide(table, c.from, &k, src, dst)
		if ok != c.allowed || ok && nat.Kind != c.nat {
			t.Errorf("%s: allowed %v nat %v, want %v %v", c.name, ok, nat.Kind, c.allowed, c.nat)
		}
	}
	// With AllowFromInside off, inside connections need a rule too.
	p.AllowFromInside = false
	k, src, dst := key(17, "10.0.0.9", "203.0.113.7", 53)
	if _, ok := p.decide(table, SideInside, &k, src, dst); ok {
		t.Error("inside connection allowed with allow_from_inside off and no rule")
	}
}
