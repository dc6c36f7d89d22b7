package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Values written as TOML strings (durations, bandwidths, addresses, prefixes,
// port ranges) decode into the types below. Their UnmarshalText never fails:
// when the text does not parse it keeps the text and the reason, which
// Validate then reports under the value's key. So one pass over
// a file finds every bad value, not just the first one.

// text is the part every string-valued type shares.
type text struct {
	raw string // as written in the file, when it did not parse
	err error  // why raw did not parse; nil when it did
}

// textValue is implemented by every type that embeds text.
type textValue interface {
	written() string
	parseErr() error
}

func (t text) parseErr() error { return t.err }

// failed is the text part of a value: empty when it parsed, so that parsed
// values compare equal to values set in code; s and err when it did not.
func failed(s []byte, err error) text {
	if err == nil {
		return text{}
	}
	return text{raw: string(s), err: err}
}

// Duration is a time.Duration written as a Go duration string: "3s", "20us",
// "1h30m". Units: ns, us (or µs), ms, s, m, h.
type Duration struct {
	time.Duration
	text
}

// D returns a Duration set in code.
func D(d time.Duration) Duration { return Duration{Duration: d} }

// UnmarshalText keeps s; a bad duration is reported by Validate.
func (d *Duration) UnmarshalText(s []byte) error {
	v, err := time.ParseDuration(string(s))
	if err != nil {
		err = errors.New("not a duration: want a number and a unit, e.g. 3s, 20us, 1h30m")
		if _, nerr := strconv.ParseFloat(string(s), 64); nerr == nil {
			err = errors.New("the unit is missing: write e.g. \"3s\", \"20us\" or \"2m\"")
		}
	}
	*d = Duration{Duration: v, text: failed(s, err)}
	return nil
}

// MarshalText writes the duration the way time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.written()), nil }

func (d Duration) written() string {
	if d.raw != "" {
		return d.raw
	}
	return d.String()
}

// Bandwidth is a rate in bits per second, written with a unit: "800Mbit",
// "1Gbit", "100MB/s". See ParseBandwidth.
type Bandwidth struct {
	BitsPerSecond uint64
	text
}

// UnmarshalText keeps s; a bad bandwidth is reported by Validate.
func (b *Bandwidth) UnmarshalText(s []byte) error {
	v, err := ParseBandwidth(string(s))
	*b = Bandwidth{BitsPerSecond: v, text: failed(s, err)}
	return nil
}

// MarshalText writes the rate in the largest bit unit that divides it.
func (b Bandwidth) MarshalText() ([]byte, error) { return []byte(b.written()), nil }

func (b Bandwidth) written() string {
	if b.raw != "" {
		return b.raw
	}
	return FormatBandwidth(b.BitsPerSecond)
}

// Addr is an IPv4 or IPv6 address without a prefix length: "10.77.1.1",
// "fd77:1::1". The zero Addr (not IsValid) means "not set".
type Addr struct {
	netip.Addr
	text
}

// A returns an Addr set in code; it panics on a bad address.
func A(s string) Addr { return Addr{Addr: netip.MustParseAddr(s)} }

// UnmarshalText keeps s; a bad address is reported by Validate.
func (a *Addr) UnmarshalText(s []byte) error {
	v, err := netip.ParseAddr(string(s))
	switch {
	case err != nil:
		err = errors.New("not an IPv4 or IPv6 address")
		if _, perr := netip.ParsePrefix(string(s)); perr == nil {
			err = errors.New("an address is wanted here, without a /length")
		}
		v = netip.Addr{}
	case v.Zone() != "":
		err = errors.New("an address with a zone (%) is not allowed")
		v = netip.Addr{}
	}
	*a = Addr{Addr: v, text: failed(s, err)}
	return nil
}

// MarshalText writes the address.
func (a Addr) MarshalText() ([]byte, error) { return []byte(a.written()), nil }

func (a Addr) written() string { return writtenNetip(a.text, a.Addr) }

// Prefix is an address with a prefix length: "10.77.1.2/24", "fd77:1::/64".
// Interface addresses keep their host bits (10.77.1.2/24 is the address
// 10.77.1.2 on the subnet 10.77.1.0/24); policy rules use them as subnets.
type Prefix struct {
	netip.Prefix
	text
}

// P returns a Prefix set in code; it panics on a bad prefix.
func P(s string) Prefix { return Prefix{Prefix: netip.MustParsePrefix(s)} }

// UnmarshalText keeps s; a bad prefix is reported by Validate.
func (p *Prefix) UnmarshalText(s []byte) error {
	v, err := netip.ParsePrefix(string(s))
	if err != nil {
		err = errors.New("not a prefix: want address/length, e.g. 10.77.1.0/24 or fd77:1::/64")
		if _, aerr := netip.ParseAddr(string(s)); aerr == nil {
			err = errors.New("the /length is missing, e.g. 10.77.1.2/24 (/32 or /128 for one address)")
		}
		v = netip.Prefix{}
	}
	*p = Prefix{Prefix: v, text: failed(s, err)}
	return nil
}

// MarshalText writes the prefix.
func (p Prefix) MarshalText() ([]byte, error) { return []byte(p.written()), nil }

func (p Prefix) written() string { return writtenNetip(p.text, p.Prefix) }

// writtenNetip is the text of a netip value: as written when it did not
// parse, empty when unset.
func writtenNetip[T interface {
	IsValid() bool
	String() string
}](t text, v T) string {
	if t.raw != "" || !v.IsValid() {
		return t.raw
	}
	return v.String()
}

// PortRange is a port or an inclusive range of ports: "8116", "20000-59999".
// The zero PortRange means "not set".
type PortRange struct {
	Lo, Hi uint16
	text
}

// Ports returns a PortRange set in code.
func Ports(lo, hi uint16) PortRange { return PortRange{Lo: lo, Hi: hi} }

// IsZero reports whether the range is unset.
func (r PortRange) IsZero() bool { return r.Lo == 0 && r.Hi == 0 && r.raw == "" && r.err == nil }

// Len is the number of ports in the range.
func (r PortRange) Len() int { return int(r.Hi) - int(r.Lo) + 1 }

// Contains reports whether port is in the range.
func (r PortRange) Contains(port uint16) bool { return port >= r.Lo && port <= r.Hi }

// Overlaps reports whether the two ranges share a port.
func (r PortRange) Overlaps(o PortRange) bool { return r.Lo <= o.Hi && o.Lo <= r.Hi }

// UnmarshalText keeps s; a bad range is reported by Validate.
func (r *PortRange) UnmarshalText(s []byte) error {
	lo, hi, err := parsePortRange(string(s))
	*r = PortRange{Lo: lo, Hi: hi, text: failed(s, err)}
	return nil
}

func parsePortRange(s string) (lo, hi uint16, err error) {
	los, his, isRange := strings.Cut(s, "-")
	l, err := parsePort(strings.TrimSpace(los))
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return l, l, nil
	}
	h, err := parsePort(strings.TrimSpace(his))
	if err != nil {
		return 0, 0, err
	}
	if l > h {
		return 0, 0, fmt.Errorf("range %d-%d: the low end is above the high end", l, h)
	}
	return l, h, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errors.New("not a port or a range lo-hi of ports, e.g. 443 or 20000-59999")
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d is out of range: ports are 1 to 65535", n)
	}
	return uint16(n), nil
}

// MarshalText writes "lo" or "lo-hi".
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.written()), nil }

func (r PortRange) written() string {
	if r.raw != "" {
		return r.raw
	}
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// AddrRange is an inclusive range of addresses of one family, written as one
// address ("10.77.2.100"), a range ("10.77.2.100-10.77.2.103") or a prefix
// ("10.77.2.96/29", every address of it).
type AddrRange struct {
	From, To netip.Addr
	text
}

// UnmarshalText keeps s; a bad range is reported by Validate.
func (r *AddrRange) UnmarshalText(s []byte) error {
	from, to, err := parseAddrRange(string(s))
	if err != nil {
		from, to = netip.Addr{}, netip.Addr{}
	}
	*r = AddrRange{From: from, To: to, text: failed(s, err)}
	return nil
}

func parseAddrRange(s string) (from, to netip.Addr, err error) {
	if p, perr := netip.ParsePrefix(s); perr == nil {
		p = p.Masked()
		return p.Addr(), lastAddr(p), nil
	}
	fs, ts, isRange := strings.Cut(s, "-")
	from, err = netip.ParseAddr(strings.TrimSpace(fs))
	if err != nil || from.Zone() != "" {
		return from, to, errors.New("not an address, a range from-to of addresses, or a prefix")
	}
	if !isRange {
		return from, from, nil
	}
	to, err = netip.ParseAddr(strings.TrimSpace(ts))
	if err != nil || to.Zone() != "" {
		return from, to, errors.New("not an address, a range from-to of addresses, or a prefix")
	}
	if from.Is4() != to.Is4() {
		return from, to, errors.New("the two ends of the range are of different families")
	}
	if to.Less(from) {
		return from, to, fmt.Errorf("range %s-%s: the first address is above the last", from, to)
	}
	return from, to, nil
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Contains reports whether a is in the range.
func (r AddrRange) Contains(a netip.Addr) bool {
	return r.From.IsValid() && a.BitLen() == r.From.BitLen() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

// MarshalText writes "from" or "from-to".
func (r AddrRange) MarshalText() ([]byte, error) { return []byte(r.written()), nil }

func (r AddrRange) written() string {
	if r.raw != "" {
		return r.raw
	}
	if r.From == r.To {
		return r.From.String()
	}
	return r.From.String() + "-" + r.To.String()
}
