package packet

import (
	"testing"
)

func TestDecodeRoundTrip(t *testing.T) {
	type want struct {
		class            Class
		family, proto    uint8
		src, dst         [16]byte
		sport, dport     uint16
		icmpType, icmpID uint16
		flags            Flags
		vlan             uint16
	}
	tcp4 := tcp4Spec()
	tests := []struct {
		name string
		s    Spec
		w    want
	}{
		{"udp4", udp4Spec(), want{ClassIPv4, 4, ProtoUDP, ip4A, ip4B, 40000, 8116, 0, 0, FlagL4, 0}},
		{"tcp4", tcp4, want{ClassIPv4, 4, ProtoTCP, ip4A, ip4B, 40000, 443, 0, 0, FlagL4 | FlagDontFragment, 0}},
		{"udp6", udp6Spec(), want{ClassIPv6, 6, ProtoUDP, ip6A, ip6B, 5353, 53, 0, 0, FlagL4, 0}},
		{"tcp6", tcp6Spec(), want{ClassIPv6, 6, ProtoTCP, ip6A, ip6B, 40000, 443, 0, 0, FlagL4, 0}},
		{"echo4", echo4Spec(), want{ClassIPv4, 4, ProtoICMP, ip4A, ip4B, 0, 0, ICMPEchoRequest, 0x4242, FlagL4, 0}},
		{"echo6", echo6Spec(), want{ClassIPv6, 6, ProtoICMPv6, ip6A, ip6B, 0, 0, ICMPv6EchoRequest, 0x4343, FlagL4, 0}},
		{"udp4-vlan", func() Spec { s := udp4Spec(); s.VLANID = 4094; return s }(), want{ClassIPv4, 4, ProtoUDP, ip4A, ip4B, 40000, 8116, 0, 0, FlagL4, 4094}},
		{"gre4-raw", Spec{Src: ip4A, Dst: ip4B, Proto: 47, Payload: make([]byte, 12)}, want{ClassIPv4, 4, 47, ip4A, ip4B, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := build(t, tt.s)
			p := decode(t, f)
			got := want{p.Class, p.Family, p.Proto, p.Src, p.Dst, p.SrcPort, p.DstPort, uint16(p.ICMPType), p.ICMPID, p.Flags, p.VLANID}
			if got != tt.w {
				t.Errorf("got  %+v\nwant %+v", got, tt.w)
			}
			if p.DstMAC != tt.s.DstMAC || p.SrcMAC != tt.s.SrcMAC {
				t.Errorf("MACs %x %x", p.DstMAC, p.SrcMAC)
			}
			if p.TTL != 64 || int(p.End) != len(f) {
				t.Errorf("TTL %d End %d len %d", p.TTL, p.End, len(f))
			}
			if !ChecksumsValid(f, p) {
				t.Errorf("checksums do not verify")
			}
			if p.PayloadOff != 0 && string(p.Payload(f)) != string(tt.s.Payload) {
				t.Errorf("payload %q, want %q", p.Payload(f), tt.s.Payload)
			}
			if p.Inner.Family != 0 {
				t.Errorf("Inner set on a plain packet")
			}
		})
	}
}

func TestDecodeTCPFields(t *testing.T) {
	s := tcp4Spec()
	f := build(t, s)
	p := decode(t, f)
	if p.Seq != s.Seq || p.Ack != s.Ack || p.TCPFlags != s.TCPFlags || p.Window != s.Window {
		t.Errorf("seq %x ack %x flags %x win %d", p.Seq, p.Ack, p.TCPFlags, p.Window)
	}
	if string(p.TCPOptions(f)) != string(s.TCPOptions) {
		t.Errorf("options % x, want % x", p.TCPOptions(f), s.TCPOptions)
	}
	if int(p.PayloadOff) != ethHeaderLen+ipv4MinHeaderLen+tcpMinHeaderLen+len(s.TCPOptions) {
		t.Errorf("PayloadOff %d", p.PayloadOff)
	}
	if p.FragID != uint32(s.IPID) {
		t.Errorf("FragID %x", p.FragID)
	}
}

// TestDecodeKnownFrame decodes a frame written out by hand as hex: IPv4
// UDP to port 53, its header and UDP checksums computed by an independent
// Python implementation of RFC 1071, not by this package.
func TestDecodeKnownFrame(t *testing.T) {
	f := unhex(t, `
		02 00 00 00 00 0b 02 00 00 00 00 0a 08 00
		45 00 00 29 1c 46 40 00 40 11 9d 2a c0 a8 00 02 c0 a8 00 01
		d4 31 00 35 00 15 7f e5
		00 01 02 03 04 05 06 07 08 09 0a 0b 0c`)
	p := decode(t, f)
	if IPv4(p.Src) != [4]byte{192, 168, 0, 2} || IPv4(p.Dst) != [4]byte{192, 168, 0, 1} {
		t.Errorf("addresses %v %v", IPv4(p.Src), IPv4(p.Dst))
	}
	if p.SrcPort != 0xd431 || p.DstPort != 53 || p.UDPLen != 21 || p.FragID != 0x1c46 || p.Flags != FlagL4|FlagDontFragment {
		t.Errorf("%+v", p.Headers)
	}
	if !ChecksumsValid(f, p) {
		t.Errorf("checksums of the known frame do not verify")
	}
}

func TestDecodeARP(t *testing.T) {
	buf := make([]byte, 64)
	n := BuildARPRequest(buf, 7, macA, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
	p := decode(t, buf[:n])
	want := ARP{Op: ARPRequest, SenderHW: macA, SenderIP: [4]byte{10, 0, 0, 1}, TargetIP: [4]byte{10, 0, 0, 2}}
	if p.Class != ClassARP || p.ARP != want || p.VLANID != 7 || p.DstMAC != broadcastMAC {
		t.Errorf("class %v ARP %+v vlan %d dst %x", p.Class, p.ARP, p.VLANID, p.DstMAC)
	}
	n = BuildARPReply(buf, 0, macB, [4]byte{10, 0, 0, 2}, &p.ARP)
	q := decode(t, buf[:n])
	want = ARP{Op: ARPReply, SenderHW: macB, SenderIP: [4]byte{10, 0, 0, 2}, TargetHW: macA, TargetIP: [4]byte{10, 0, 0, 1}}
	if q.ARP != want || q.DstMAC != macA || q.SrcMAC != macB {
		t.Errorf("reply %+v to %x", q.ARP, q.DstMAC)
	}
	n = BuildGratuitousARP(buf, 0, macB, [4]byte{10, 0, 0, 9})
	g := decode(t, buf[:n])
	if g.ARP.SenderIP != g.ARP.TargetIP || g.ARP.Op != ARPRequest || g.DstMAC != broadcastMAC || n != 42 {
		t.Errorf("gratuitous %+v len %d", g.ARP, n)
	}
	// A non-IPv4 ARP is not ours and not a drop.
	buf[ethHeaderLen+3] = 0x99
	if r := g.Decode(buf[:n]); r != DropNone || g.Class != ClassOther {
		t.Errorf("odd ARP: %v %v", r, g.Class)
	}
}

func TestDecodeOtherAndVLAN(t *testing.T) {
	lldp := unhex(t, "0180c200000e 02000000000a 88cc 0207 04 02000000000a")
	p := decode(t, lldp)
	if p.Class != ClassOther || p.EtherType != 0x88cc {
		t.Errorf("lldp: %v %x", p.Class, p.EtherType)
	}
	stp := unhex(t, "0180c2000000 02000000000a 0026 424203 0000")
	if p = decode(t, stp); p.Class != ClassOther {
		t.Errorf("802.3 frame: %v", p.Class)
	}
	// QinQ: service tag 200, customer tag 300, then IPv4.
	inner := mustBuild(udp4Spec())
	qinq := append(append(append([]byte{}, inner[:12]...), unhex(t, "88a8 00c8 8100 012c")...), inner[12:]...)
	p = decode(t, qinq)
	if p.VLANTags != 2 || p.VLANID != 200 || p.Class != ClassIPv4 || p.L3Off != 22 || p.DstPort != 8116 {
		t.Errorf("qinq: tags %d id %d class %v l3 %d", p.VLANTags, p.VLANID, p.Class, p.L3Off)
	}
	three := append(append(append([]byte{}, inner[:12]...), unhex(t, "88a8 00c8 8100 012c 8100 0001")...), inner[12:]...)
	var q Parsed
	if r := q.Decode(three); r != DropVLANDepth {
		t.Errorf("three tags: %v", r)
	}
}

func TestDecodeIPv4OptionsAndFragments(t *testing.T) {
	const l3 = ethHeaderLen
	// Options: insert a 4-byte NOP,NOP,NOP,EOL option block.
	f := mustBuild(udp4Spec())
	o := append(append(append([]byte{}, f[:l3+20]...), 1, 1, 1, 0), f[l3+20:]...)
	o[l3] = 0x46
	be.PutUint16(o[l3+2:], be.Uint16(o[l3+2:])+4)
	fixIPv4(o, l3)
	p := decode(t, o)
	if p.L4Off != l3+24 || p.Flags&FlagIPOptions == 0 || p.DstPort != 8116 || !ChecksumsValid(o, p) {
		t.Errorf("options: L4Off %d flags %b", p.L4Off, p.Flags)
	}

	setFrag := func(f []byte, v uint16) []byte {
		g := append([]byte{}, f...)
		be.PutUint16(g[l3+6:], v)
		fixIPv4(g, l3)
		return g
	}
	first := setFrag(mustBuild(udp4Spec()), 0x2000)
	p = decode(t, first)
	if !p.IsFirstFragment() || p.Flags&FlagL4 == 0 || p.DstPort != 8116 {
		t.Errorf("first fragment: flags %b", p.Flags)
	}
	later := setFrag(mustBuild(udp4Spec()), 0x0003) // offset 24, last
	p = decode(t, later)
	if p.Flags != FlagFragment|FlagLaterFragment || p.FragOff != 24 || p.Proto != ProtoUDP || p.SrcPort != 0 || p.PayloadOff != 0 {
		t.Errorf("later fragment: %+v", p.Headers)
	}
	var q Parsed
	if r := q.Decode(setFrag(mustBuild(tcp4Spec()), 0x0001)); r != DropTinyFragment {
		t.Errorf("tiny TCP fragment: %v", r)
	}
	if r := q.Decode(setFrag(mustBuild(udp4Spec()), 0x1fff)); r != DropFragmentOverflow {
		t.Errorf("ping of death: %v", r)
	}
}

func TestDecodeIPv6Ext(t *testing.T) {
	base := mustBuild(udp6Spec())
	tests := []struct {
		name  string
		exts  []ext
		drop  DropReason
		flags Flags
		off   uint16
	}{
		{"hbh+dst+rt+ah", []ext{{ProtoHopByHop, make([]byte, 8)}, {ProtoDestOpts, make([]byte, 16)}, {ProtoRouting, make([]byte, 8)}, {ProtoAH, make([]byte, 12)}},
			DropNone, FlagL4 | FlagIPOptions, 14 + 40 + 44},
		{"atomic-fragment", []ext{{ProtoFragment, make([]byte, 8)}}, DropNone, FlagL4 | FlagIPOptions | FlagFragment, 14 + 48},
		{"first-fragment", []ext{{ProtoFragment, []byte{0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}}}, DropNone, FlagL4 | FlagIPOptions | FlagFragment | FlagMoreFragments, 14 + 48},
		{"later-fragment", []ext{{ProtoFragment, []byte{0, 0, 0x05, 0xa8, 0, 0, 0, 1}}}, DropNone, FlagIPOptions | FlagFragment | FlagLaterFragment, 14 + 48},
		{"hbh-not-first", []ext{{ProtoDestOpts, make([]byte, 8)}, {ProtoHopByHop, make([]byte, 8)}}, DropIPv6ExtHeader, 0, 0},
		{"two-fragment-headers", []ext{{ProtoFragment, make([]byte, 8)}, {ProtoFragment, make([]byte, 8)}}, DropIPv6ExtHeader, 0, 0},
		{"chain-too-long", []ext{{60, make([]byte, 8)}, {60, make([]byte, 8)}, {60, make([]byte, 8)}, {60, make([]byte, 8)}, {60, make([]byte, 8)}, {60, make([]byte, 8)}, {60, make([]byte, 8)}, {60, make([]byte, 8)}, {60, make([]byte, 8)}},
			DropIPv6ExtHeader, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := withExt(base, tt.exts...)
			var p Parsed
			r := p.Decode(f)
			if r != tt.drop {
				t.Fatalf("Decode: %v, want %v", r, tt.drop)
			}
			if r != DropNone {
				return
			}
			if p.Flags != tt.flags || p.L4Off != tt.off || p.Proto != ProtoUDP {
				t.Errorf("flags %b L4Off %d proto %d", p.Flags, p.L4Off, p.Proto)
			}
			if p.Flags&FlagL4 != 0 && (p.DstPort != 53 || !ChecksumsValid(f, &p)) {
				t.Errorf("port %d or checksum wrong", p.DstPort)
			}
			if tt.name == "later-fragment" && (p.FragOff != 0x5a8 || p.FragID != 1) {
				t.Errorf("FragOff %d FragID %d", p.FragOff, p.FragID)
			}
		})
	}
	// Ending the chain with "no next header" is well formed and has no L4.
	f := withExt(base, ext{ProtoDestOpts, make([]byte, 8)})
	f[14+40] = ProtoNoNextHeader
	if p := decode(t, f); p.Proto != ProtoNoNextHeader || p.Flags&FlagL4 != 0 {
		t.Errorf("no next header: %+v", p.Headers)
	}
}

func TestDecodeICMPErrorInner(t *testing.T) {
	for _, s := range samples() {
		var p Parsed
		if p.Decode(s.frame) != DropNone || p.Flags&FlagICMPError == 0 {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			var orig Parsed
			switch {
			case p.Family == 4 && p.Inner.Proto == ProtoTCP:
				orig.Decode(mustBuild(tcp4Spec()))
			case p.Family == 4 && p.Inner.Proto == ProtoUDP:
				orig.Decode(mustBuild(udp4Spec()))
			case p.Family == 4:
				orig.Decode(mustBuild(echo4Spec()))
			case p.Inner.Proto == ProtoTCP:
				orig.Decode(mustBuild(tcp6Spec()))
			case p.Inner.Proto == ProtoUDP:
				orig.Decode(mustBuild(udp6Spec()))
			default:
				orig.Decode(mustBuild(echo6Spec()))
			}
			in := p.Inner
			if in.Family != orig.Family || in.Src != orig.Src || in.Dst != orig.Dst || in.Proto != orig.Proto ||
				in.SrcPort != orig.SrcPort || in.DstPort != orig.DstPort || in.ICMPID != orig.ICMPID || in.Seq != orig.Seq {
				t.Errorf("inner %+v\nwant  %+v", in, orig.Headers)
			}
			// The error goes back to the source of the quoted packet.
			if p.Dst != orig.Src || !ChecksumsValid(s.frame, &p) {
				t.Errorf("outer dst %x, checksums valid %v", p.Dst, ChecksumsValid(s.frame, &p))
			}
		})
	}
}

// TestDecodeMalformed covers each drop reason with a frame made to fail it.
func TestDecodeMalformed(t *testing.T) {
	const l3 = ethHeaderLen
	mod := func(s Spec, f func(b []byte)) []byte {
		b := append([]byte{}, mustBuild(s)...)
		f(b)
		return b
	}
	tests := []struct {
		name  string
		frame []byte
		want  DropReason
	}{
		{"empty", nil, DropTooShort},
		{"13 bytes", make([]byte, 13), DropTooShort},
		{"huge", make([]byte, 70000), DropTooLong},
		{"vlan cut", unhex(t, "020000000000 020000000001 8100 00"), DropTooShort},
		{"arp cut", unhex(t, "ffffffffffff 020000000001 0806 0001 0800 0604 0001"), DropARPTruncated},
		{"v6 in v4 ethertype", mod(udp4Spec(), func(b []byte) { b[l3] = 0x65 }), DropIPVersion},
		{"v4 in v6 ethertype", mod(udp6Spec(), func(b []byte) { b[l3] = 0x40 }), DropIPVersion},
		{"ihl 4", mod(udp4Spec(), func(b []byte) { b[l3] = 0x44; fixIPv4(b, l3) }), DropIPv4IHL},
		{"ihl 15 past frame", mod(udp4Spec(), func(b []byte) { b[l3] = 0x4f }), DropIPv4IHL},
		{"total < ihl", mod(udp4Spec(), func(b []byte) { be.PutUint16(b[l3+2:], 19) }), DropIPv4TotalLength},
		{"total > frame", mod(udp4Spec(), func(b []byte) { be.PutUint16(b[l3+2:], 1000) }), DropIPv4TotalLength},
		{"ip checksum", mod(udp4Spec(), func(b []byte) { b[l3+10] ^= 1 }), DropIPv4Checksum},
		{"v6 payload > frame", mod(udp6Spec(), func(b []byte) { be.PutUint16(b[l3+4:], 1000) }), DropIPv6PayloadLength},
		{"v6 hbh past end", mod(udp6Spec(), func(b []byte) { b[l3+6] = 0; be.PutUint16(b[l3+4:], 4) }), DropIPv6ExtHeader},
		{"v6 with v4-mapped dst", mod(udp6Spec(), func(b []byte) { copy(b[l3+24:], ip4B[:]) }), DropIPv6Mapped},
		{"tcp short", mod(tcp4Spec(), func(b []byte) { be.PutUint16(b[l3+2:], 20+19); fixIPv4(b, l3) }), DropTCPTooShort},
		{"tcp offset 4", mod(tcp4Spec(), func(b []byte) { b[l3+20+12] = 0x40 }), DropTCPOffset},
		{"tcp offset past end", mod(tcp4Spec(), func(b []byte) { b[l3+20+12] = 0xf0 }), DropTCPOffset},
		{"udp short", mod(udp4Spec(), func(b []byte) { be.PutUint16(b[l3+2:], 27); fixIPv4(b, l3) }), DropUDPTooShort},
		{"udp length 7", mod(udp4Spec(), func(b []byte) { be.PutUint16(b[l3+24:], 7) }), DropUDPLength},
		{"udp length past end", mod(udp6Spec(), func(b []byte) { be.PutUint16(b[l3+44:], 500) }), DropUDPLength},
		{"icmp short", mod(echo4Spec(), func(b []byte) { be.PutUint16(b[l3+2:], 27); fixIPv4(b, l3) }), DropICMPTooShort},
		{"icmp error quoting v6 in v4", mod(echo4Spec(), func(b []byte) { b[l3+20] = ICMPUnreachable; b[l3+28] = 0x60 }), DropICMPInner},
		{"icmp error quoting 4 bytes", mod(echo4Spec(), func(b []byte) { b[l3+20] = ICMPTimeExceeded }), DropICMPInner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parsed
			if got := p.Decode(tt.frame); got != tt.want {
				t.Errorf("Decode = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDecodeTruncated cuts every sample at every length: each cut must give
// a drop reason, never a panic and never a false "well formed".
func TestDecodeTruncated(t *testing.T) {
	for _, s := range samples() {
		var p Parsed
		for n := 0; n < len(s.frame); n++ {
			if r := p.Decode(s.frame[:n]); r == DropNone {
				t.Errorf("%s cut to %d bytes: no drop", s.name, n)
			}
		}
		if r := p.Decode(s.frame); r != DropNone {
			t.Errorf("%s whole: %v", s.name, r)
		}
	}
}

// TestDecodeResets makes sure nothing of an earlier frame survives Decode.
func TestDecodeResets(t *testing.T) {
	ss := samples()
	var p, fresh Parsed
	for _, a := range ss {
		for _, b := range ss {
			p.Decode(a.frame)
			p.Decode(b.frame)
			fresh.Decode(b.frame)
			if p != fresh {
				t.Fatalf("%s after %s differs from a fresh decode", b.name, a.name)
			}
		}
	}
}

func TestDropReasonString(t *testing.T) {
	seen := map[string]bool{}
	for r := DropReason(0); r < NumDropReasons; r++ {
		s := r.String()
		if s == "" || s == "unknown" || seen[s] {
			t.Errorf("DropReason(%d).String() = %q", r, s)
		}
		seen[s] = true
	}
	if DropReason(NumDropReasons).String() != "unknown" || Class(99).String() != "unknown" || ClassARP.String() != "arp" {
		t.Errorf("out of range names")
	}
}
