package lab

import (
	"fmt"
	"net/netip"
)

// Addresses of the chain lab (UpChain): src ─ gw ─ dst, no bridges.
var (
	ChainSrc       = netip.MustParseAddr("10.79.0.1")
	ChainGWInside  = netip.MustParseAddr("10.79.0.254")
	ChainGWOutside = netip.MustParseAddr("10.79.1.254")
	ChainDst       = netip.MustParseAddr("10.79.1.1")
	// ChainSNAT are the SNAT addresses of the chain's gateway, on its
	// outside interface.
	ChainSNAT = []netip.Addr{
		netip.MustParseAddr("10.79.1.100"), netip.MustParseAddr("10.79.1.101"),
		netip.MustParseAddr("10.79.1.102"), netip.MustParseAddr("10.79.1.103"),
	}
)

// UpChain builds <prefix>-src, <prefix>-gw and <prefix>-dst joined by two
// veth pairs of cfg.Queues queues (src IfPair ─ gw IfInside, gw IfOutside ─
// dst IfPair), for forwarding benchmarks: a live-frame sender in src reaches
// the gateway's veth directly. The gateway holds ChainSNAT on IfOutside;
// src and dst route through it. Lab.A is src, Lab.B is dst, Lab.GW1 is gw.
func UpChain(cfg Config) (*Lab, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := Down(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("clearing an earlier lab %q: %w", cfg.Prefix, err)
	}
	l := &Lab{Config: cfg, A: nsName(cfg.Prefix, "src"), GW1: nsName(cfg.Prefix, "gw"), B: nsName(cfg.Prefix, "dst")}
	err := func() error {
		b := newBuilder()
		defer b.close()
		for _, n := range []string{l.A, l.GW1, l.B} {
			if err := b.addNS(n); err != nil {
				return err
			}
		}
		if err := b.veth(l.A, IfPair, l.GW1, IfInside, cfg.Queues, 1500); err != nil {
			return err
		}
		if err := b.veth(l.GW1, IfOutside, l.B, IfPair, cfg.Queues, 1500); err != nil {
			return err
		}
		addrs := []struct {
			ns, ifname string
			a          netip.Addr
		}{
			{l.A, IfPair, ChainSrc}, {l.GW1, IfInside, ChainGWInside},
			{l.GW1, IfOutside, ChainGWOutside}, {l.B, IfPair, ChainDst},
		}
		for _, a := range ChainSNAT {
			addrs = append(addrs, struct {
				ns, ifname string
				a          netip.Addr
			}{l.GW1, IfOutside, a})
		}
		for _, a := range addrs {
			if err := b.addr(a.ns, a.ifname, a.a, prefixLen4); err != nil {
				return err
			}
		}
		for ns, ifs := range map[string][]string{l.A: {IfPair}, l.GW1: {IfInside, IfOutside}, l.B: {IfPair}} {
			if err := b.up(ns, append(ifs, "lo")...); err != nil {
				return err
			}
			if err := Do(ns, func() error {
				for _, ifname := range ifs {
					if err := txChecksumOff(ifname); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := b.defaultRoute(l.A, IfPair, ChainGWInside); err != nil {
			return err
		}
		return b.defaultRoute(l.B, IfPair, ChainGWOutside)
	}()
	if err != nil {
		_ = Down(cfg.Prefix)
		return nil, fmt.Errorf("building chain lab %q: %w", cfg.Prefix, err)
	}
	return l, nil
}
