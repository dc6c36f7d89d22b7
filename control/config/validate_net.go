package config

import (
	"net/netip"
	"strings"
	"time"
)

func (c *Config) checkInterfaces(r *report, m Machine) {
	names := c.InterfaceNames()
	if len(names) == 0 {
		r.bad("interfaces", nil, "none: an inside and an outside interface are needed")
		return
	}
	type owned struct {
		key  string
		p    netip.Prefix
		name string
	}
	var seen []owned
	roles := map[Role]string{}
	for _, name := range names {
		ifc := c.Interfaces[name]
		k := key("interfaces", name)
		if !validIfName(name) {
			r.bad(k, name, "not a Linux interface name: 1 to 15 characters, none of '/', ':' or white space")
		} else if m.HasInterface != nil && !m.HasInterface(name) {
			r.bad(k, name, "interface %s does not exist on this machine", name)
		}
		switch ifc.Role {
		case RoleInside, RoleOutside, RoleSync:
			if other, dup := roles[ifc.Role]; dup {
				r.bad(k+".role", string(ifc.Role), "%s is the %s interface already: one %s interface for now", other, ifc.Role, ifc.Role)
			} else {
				roles[ifc.Role] = name
			}
		case "":
			r.bad(k+".role", nil, "required: inside, outside or sync")
		default:
			r.bad(k+".role", string(ifc.Role), "want inside, outside or sync")
		}
		intIn(r, k+".queues", ifc.Queues, 1, 256)
		if len(ifc.Addresses) == 0 {
			r.bad(k+".addresses", nil, "empty: this member's address on the link is needed, with its prefix length, e.g. 10.77.1.2/24")
		}
		for i, p := range ifc.Addresses {
			ak := index(k+".addresses", i)
			if !textOK(r, ak, p) {
				continue
			}
			a := p.Addr()
			switch {
			case !a.IsGlobalUnicast():
				r.bad(ak, p, "not a unicast address a host on the link can reach")
				continue
			case p.Bits() < a.BitLen()-1 && a == p.Masked().Addr():
				r.bad(ak, p, "is the subnet's own address: give this member's address and the prefix length, e.g. 10.77.1.2/24")
				continue
			case a.Is4() && p.Bits() < 31 && a == lastAddr(p.Masked()):
				r.bad(ak, p, "is the subnet's broadcast address")
				continue
			}
			for _, o := range seen {
				switch {
				case o.p.Addr() == a:
					r.bad(ak, p, "the address is given twice (also %s)", o.key)
				case o.name != name && o.p.Masked().Overlaps(p.Masked()):
					r.bad(ak, p, "overlaps %s (%s) of interface %s: each interface needs subnets of its own", o.key, o.p, o.name)
				default:
					continue
				}
				break
			}
			seen = append(seen, owned{ak, p.Prefix, name})
		}
	}
	for _, role := range []Role{RoleInside, RoleOutside} {
		if roles[role] == "" {
			r.bad("interfaces", nil, "no %s interface (an interface with role = %q)", role, role)
		}
	}
}

// validIfName reports whether s can be a Linux interface name.
func validIfName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/: \t\n\r\v\f")
}

// hasAddr reports whether a is one of the interface's own addresses.
func (ifc Interface) hasAddr(a netip.Addr) bool {
	for _, p := range ifc.Addresses {
		if p.IsValid() && p.Addr() == a {
			return true
		}
	}
	return false
}

// onLink reports whether a is inside one of the interface's subnets.
func (ifc Interface) onLink(a netip.Addr) bool {
	for _, p := range ifc.Addresses {
		if p.IsValid() && p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

// subnets lists the interface's subnets for a message: "10.77.1.0/24, fd77:1::/64".
func (ifc Interface) subnets() string {
	var s []string
	for _, p := range ifc.Addresses {
		if p.IsValid() {
			s = append(s, p.Masked().String())
		}
	}
	if len(s) == 0 {
		return "no addresses"
	}
	return strings.Join(s, ", ")
}

func (c *Config) checkSync(r *report) {
	s := c.Sync
	peers := len(c.Peers) > 0
	intIn(r, "sync.port", s.Port, 1, 65535)
	intIn(r, "sync.cluster_id", s.ClusterID, 1, 65535)
	checkAbs(r, "sync.key_file", s.KeyFile)
	if s.KeyFile == "" && peers {
		r.warn("sync.key_file", s.KeyFile, "not set: sync frames are not authenticated and anyone on the sync link can inject state (acceptable in the lab only)")
	}
	if textOK(r, "sync.max_bandwidth", s.MaxBandwidth) && s.MaxBandwidth.BitsPerSecond != 0 && s.MaxBandwidth.BitsPerSecond < 1e6 {
		r.bad("sync.max_bandwidth", s.MaxBandwidth, "below 1Mbit: too little for heartbeats and a full sync (0 means unlimited)")
	}
	if durIn(r, "sync.delayed_notification", s.DelayedNotification, 0, 10*time.Minute) && s.DelayedNotification.Duration == 0 {
		r.warn("sync.delayed_notification", s.DelayedNotification, "every connection is synced, even those that end within milliseconds: more sync traffic for little gain")
	}
	hbOK := durIn(r, "sync.heartbeat_interval", s.HeartbeatInterval, 10*time.Millisecond, 10*time.Second)
	if intIn(r, "sync.dead_count", s.DeadCount, 2, 100) && hbOK {
		if dead := s.HeartbeatInterval.Duration * time.Duration(s.DeadCount); dead > 10*time.Second {
			r.warn("sync.dead_count", s.DeadCount, "a dead peer is noticed only after %s (heartbeat_interval × dead_count)", FormatDuration(dead))
		}
	}
	intIn(r, "sync.mtu", s.MTU, 1280, 9000)
	if s.Transport != SyncUDP && s.Transport != SyncAFXDP {
		r.bad("sync.transport", s.Transport, "must be %q or %q", SyncUDP, SyncAFXDP)
	}
	checkRemediation(r, s)
	if !textOK(r, "sync.address", s.Address) || !s.Address.IsValid() {
		return
	}
	name, ifc, ok := c.InterfaceByRole(RoleSync)
	switch {
	case !ok:
		r.bad("sync.address", s.Address, "no interface has role sync")
	case !ifc.hasAddr(s.Address.Addr):
		r.bad("sync.address", s.Address, "is not an address of the sync interface %s", name)
	}
}

// checkRemediation checks [sync.remediation]: its values always, their
// relation to delayed_notification when it is enabled.
func checkRemediation(r *report, s Sync) {
	rm := s.Remediation
	durIn(r, "sync.remediation.lag_threshold", rm.LagThreshold, time.Millisecond, 10*time.Second)
	intIn(r, "sync.remediation.queue_threshold", rm.QueueThreshold, 100, 100_000_000)
	if textOK(r, "sync.remediation.hold", rm.Hold) && (rm.Hold.Duration < time.Second || rm.Hold.Duration > 10*time.Minute) {
		r.bad("sync.remediation.hold", rm.Hold, "must be 1s to 10m (the lag is measured over the last second: a shorter hold would step on one burst)")
	}
	if _, _, err := ParseStep(rm.Step); err != nil {
		r.bad("sync.remediation.step", rm.Step, "%s", err.Error())
	}
	maxOK := durIn(r, "sync.remediation.max_delay", rm.MaxDelay, time.Second, 10*time.Minute)
	if maxOK && rm.Enabled && s.DelayedNotification.parseErr() == nil && rm.MaxDelay.Duration <= s.DelayedNotification.Duration {
		r.bad("sync.remediation.max_delay", rm.MaxDelay, "not above sync.delayed_notification (%s): no room to raise the delay", FormatDuration(s.DelayedNotification.Duration))
	}
}

func (c *Config) checkPeers(r *report) {
	syncName, syncIfc, hasSync := c.InterfaceByRole(RoleSync)
	switch {
	case len(c.Peers) > 0 && !hasSync:
		r.bad("peers", nil, "peers are given but no interface has role sync")
	case len(c.Peers) == 0 && hasSync:
		r.warn(key("interfaces", syncName), syncName, "no [[peers]]: this member runs standalone and the sync link is unused")
	}
	ids := map[int]string{}
	addrs := map[netip.Addr]string{}
	for i, p := range c.Peers {
		pk := index("peers", i)
		if intIn(r, pk+".id", p.ID, 1, 255) {
			if p.ID == c.Member.ID {
				r.bad(pk+".id", p.ID, "is this member's own id (member.id)")
			} else if prev, dup := ids[p.ID]; dup {
				r.bad(pk+".id", p.ID, "member id %d is given twice (also %s)", p.ID, prev)
			} else {
				ids[p.ID] = pk + ".id"
			}
		}
		checkName(r, pk+".name", p.Name)
		ak := pk + ".address"
		if !textOK(r, ak, p.Address) {
			continue
		}
		a := p.Address.Addr
		if !a.IsValid() {
			r.bad(ak, nil, "required: the peer's address on the sync link")
			continue
		}
		if hasSync {
			if syncIfc.hasAddr(a) {
				r.bad(ak, p.Address, "is this member's own address on %s", syncName)
				continue
			}
			if !syncIfc.onLink(a) {
				r.bad(ak, p.Address, "is not on the sync link: not inside any subnet of %s (%s)", syncName, syncIfc.subnets())
				continue
			}
		}
		if prev, dup := addrs[a]; dup {
			r.bad(ak, p.Address, "the address is given twice (also %s)", prev)
			continue
		}
		addrs[a] = ak
		if local := c.Sync.Address; local.IsValid() && local.Is4() != a.Is4() {
			r.bad(ak, p.Address, "is not of the family of sync.address %s: CCP runs over one family", local.Addr)
		}
		c.checkDataAddresses(r, pk, p)
	}
}

// checkDataAddresses checks peers[i].data_addresses: each on an inside or
// outside link, not this member's own.
func (c *Config) checkDataAddresses(r *report, pk string, p Peer) {
	dk := pk + ".data_addresses"
	if len(p.DataAddresses) == 0 {
		r.warn(dk, nil, "not set: a failure of the sync link alone will look like a dead peer, and both members will claim the addresses (split brain)")
		return
	}
	for j, d := range p.DataAddresses {
		k := index(dk, j)
		if !textOK(r, k, d) {
			continue
		}
		found := false
		for _, name := range c.InterfaceNames() {
			ifc := c.Interfaces[name]
			if ifc.Role == RoleSync {
				continue
			}
			if ifc.hasAddr(d.Addr) {
				r.bad(k, d, "is this member's own address on %s", name)
				found = true
				break
			}
			if ifc.onLink(d.Addr) {
				found = true
				break
			}
		}
		if !found {
			r.bad(k, d, "is not on an inside or outside link: not inside any subnet of those interfaces")
		}
	}
}

func (c *Config) checkHA(r *report) {
	seen := map[netip.Addr]string{}
	for _, name := range sortedKeys(c.HA.VIPs) {
		vk := key("ha", "vips", name)
		ifc, ok := c.Interfaces[name]
		if !ok {
			r.bad(vk, nil, "interface %s is not declared in [interfaces]", name)
			continue
		}
		if ifc.Role == RoleSync {
			r.bad(vk, nil, "%s is the sync interface: VIPs belong on the inside and outside interfaces", name)
			continue
		}
		for j, v := range c.HA.VIPs[name] {
			ek := index(vk, j)
			if !textOK(r, ek, v) {
				continue
			}
			a := v.Addr
			switch {
			case !a.IsGlobalUnicast():
				r.bad(ek, v, "not a unicast address a host on the link can reach")
			case ifc.hasAddr(a):
				r.bad(ek, v, "is this member's own address on %s: a VIP must be an address of its own", name)
			case !ifc.onLink(a):
				r.bad(ek, v, "is not inside any subnet of %s (%s): hosts on the link could not reach it", name, ifc.subnets())
			case seen[a] != "":
				r.bad(ek, v, "the address is given twice (also %s)", seen[a])
			default:
				seen[a] = ek
			}
		}
	}
}

func (c *Config) checkNAT(r *report) {
	n := c.NAT
	if n.Enabled && len(n.SNAT) == 0 {
		r.bad("nat.snat", nil, "empty: nat is enabled and needs at least one address to translate to")
	}
	if !n.Enabled && (len(n.SNAT) > 0 || len(n.Forward) > 0) {
		r.warn("nat.enabled", false, "nat.snat and nat.forward are ignored: nat is disabled")
	}
	outName, outIfc, hasOut := c.InterfaceByRole(RoleOutside)
	for i, a := range n.SNAT {
		k := index("nat.snat", i)
		if !textOK(r, k, a) {
			continue
		}
		if !a.From.IsGlobalUnicast() || !a.To.IsGlobalUnicast() {
			r.bad(k, a, "not a unicast address")
			continue
		}
		for j := range i {
			if o := n.SNAT[j]; o.parseErr() == nil && (o.Contains(a.From) || o.Contains(a.To) || a.Contains(o.From)) {
				r.bad(k, a, "overlaps %s", index("nat.snat", j))
				break
			}
		}
		if hasOut && (!outIfc.onLink(a.From) || !outIfc.onLink(a.To)) {
			r.warn(k, a, "not on the outside link of %s (%s): the upstream router must route it to this gateway", outName, outIfc.subnets())
		}
	}
	if textOK(r, "nat.ports", n.Ports) && n.Ports.Lo < 1024 {
		r.warn("nat.ports", n.Ports, "SNAT may use well-known ports below 1024")
	}
	for i, f := range n.Forward {
		fk := index("nat.forward", i)
		switch f.Protocol {
		case ProtoTCP, ProtoUDP:
		case "":
			r.bad(fk+".protocol", nil, "required: tcp or udp")
		default:
			r.bad(fk+".protocol", string(f.Protocol), "want tcp or udp: a port forward needs ports")
		}
		addrOK := requireAddr(r, fk+".address", f.Address)
		toOK := requireAddr(r, fk+".to_address", f.ToAddress)
		if addrOK && toOK && f.Address.Is4() != f.ToAddress.Is4() {
			r.bad(fk+".to_address", f.ToAddress, "is not of the family of %s.address %s: there is no NAT64", fk, f.Address.Addr)
		}
		portsOK := textOK(r, fk+".ports", f.Ports)
		if portsOK && f.Ports.IsZero() {
			r.bad(fk+".ports", nil, "required: the outside port or range, e.g. \"8080\" or \"8000-8010\"")
			portsOK = false
		}
		if f.ToPort != 0 && intIn(r, fk+".to_port", f.ToPort, 1, 65535) && portsOK {
			if end := f.ToPort + f.Ports.Len() - 1; end > 65535 {
				r.bad(fk+".to_port", f.ToPort, "the forwarded range would end at port %d, beyond 65535", end)
			}
		}
		if !portsOK || !addrOK {
			continue
		}
		for j := range i {
			o := n.Forward[j]
			if o.Protocol == f.Protocol && o.Address.Addr == f.Address.Addr && o.Ports.parseErr() == nil && o.Ports.Overlaps(f.Ports) {
				r.bad(fk+".ports", f.Ports, "overlaps %s: the same %s port on %s", index("nat.forward", j), f.Protocol, f.Address.Addr)
				break
			}
		}
	}
}

// requireAddr reports an address that did not parse or is missing.
func requireAddr(r *report, k string, a Addr) bool {
	if !textOK(r, k, a) {
		return false
	}
	if !a.IsValid() {
		r.bad(k, nil, "required")
		return false
	}
	return true
}

func (c *Config) checkPolicy(r *report) {
	for i, rule := range c.Policy.Allow {
		rk := index("policy.allow", i)
		switch rule.From {
		case SideAny, SideInside, SideOutside:
		default:
			r.bad(rk+".from", string(rule.From), "want inside, outside or any")
		}
		protoOK := true
		switch rule.Protocol {
		case ProtoAny, ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6:
		default:
			r.bad(rk+".protocol", string(rule.Protocol), "want tcp, udp, icmp, icmpv6 or any")
			protoOK = false
		}
		src4, src6 := checkPrefixes(r, rk+".source", rule.Source)
		dst4, dst6 := checkPrefixes(r, rk+".destination", rule.Destination)
		v4, v6 := true, true
		if len(rule.Source) > 0 {
			v4, v6 = src4, src6
		}
		if len(rule.Destination) > 0 {
			v4, v6 = v4 && dst4, v6 && dst6
		}
		if len(rule.Source) > 0 && len(rule.Destination) > 0 && (src4 || src6) && (dst4 || dst6) && !v4 && !v6 {
			r.bad(rk+".destination", nil, "no address family in common with %s.source: the rule could never match", rk)
		}
		switch {
		case rule.Protocol == ProtoICMP && !v4:
			r.bad(rk+".protocol", string(rule.Protocol), "icmp is IPv4 but the rule's prefixes are IPv6 only (use icmpv6)")
		case rule.Protocol == ProtoICMPv6 && !v6:
			r.bad(rk+".protocol", string(rule.Protocol), "icmpv6 is IPv6 but the rule's prefixes are IPv4 only (use icmp)")
		}
		if len(rule.Ports) > 0 && protoOK && rule.Protocol != ProtoTCP && rule.Protocol != ProtoUDP {
			r.bad(rk+".ports", nil, "ports need protocol tcp or udp (the protocol is %s)", rule.Protocol)
		}
		for j, p := range rule.Ports {
			textOK(r, index(rk+".ports", j), p)
		}
	}
}

// checkPrefixes checks a rule's prefixes and says which families they hold.
func checkPrefixes(r *report, k string, ps []Prefix) (v4, v6 bool) {
	for i, p := range ps {
		pk := index(k, i)
		if !textOK(r, pk, p) {
			continue
		}
		if p.Prefix != p.Masked() {
			r.warn(pk, p, "has host bits set: it means %s", p.Masked())
		}
		if p.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4, v6
}
