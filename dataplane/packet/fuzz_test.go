package packet

import (
	"bytes"
	"testing"
)

// checkDecode decodes frame and checks what must hold for any input: no
// panic; for a well-formed IP packet, offsets inside the frame and in order,
// and NAT rewrites that keep valid checksums valid and leave a frame that
// decodes to exactly the updated Parsed.
func checkDecode(t *testing.T, frame []byte) {
	var p Parsed
	r := p.Decode(frame)
	if r >= NumDropReasons {
		t.Fatalf("drop reason %d out of range", r)
	}
	_ = r.String()
	if r != DropNone || (p.Class != ClassIPv4 && p.Class != ClassIPv6) {
		return
	}
	for _, h := range []*Headers{&p.Headers, &p.Inner} {
		if h.Family == 0 {
			continue
		}
		if !(h.L3Off < h.L4Off && int(h.L4Off) <= int(h.End) && int(h.End) <= len(frame)) {
			t.Fatalf("offsets L3 %d L4 %d End %d len %d", h.L3Off, h.L4Off, h.End, len(frame))
		}
		if h.PayloadOff != 0 && (h.PayloadOff < h.L4Off || h.PayloadOff > h.End) {
			t.Fatalf("PayloadOff %d outside [%d, %d]", h.PayloadOff, h.L4Off, h.End)
		}
		_ = h.Payload(frame)
		_ = h.TCPOptions(frame)
		if !Is4(h.Src) != (h.Family == 6) {
			t.Fatalf("family %d with address %x", h.Family, h.Src)
		}
	}
	if p.Flags&FlagICMPError != 0 && p.Inner.Family != p.Family {
		t.Fatalf("ICMP error with inner family %d", p.Inner.Family)
	}

	f := append([]byte{}, frame...)
	valid := ChecksumsValid(f, &p)
	a, b := p.Dst, p.Src
	a[15] ^= 0x5a
	b[13] ^= 0xa5
	SetSrcAddr(f, &p, a)
	SetDstAddr(f, &p, b)
	SetSrcPort(f, &p, p.SrcPort^0x1234)
	SetDstPort(f, &p, 0xffff)
	SetICMPID(f, &p, p.ICMPID+1)
	DecrementTTL(f, &p)
	SetInnerSrcAddr(f, &p, b)
	SetInnerDstAddr(f, &p, a)
	SetInnerSrcPort(f, &p, 7)
	SetInnerDstPort(f, &p, p.Inner.DstPort+1)
	SetInnerICMPID(f, &p, 0)
	if valid && !ChecksumsValid(f, &p) {
		t.Fatalf("rewrites broke valid checksums:\nbefore % x\nafter  % x", frame, f)
	}
	var q Parsed
	if r := q.Decode(f); r != DropNone || q != p {
		t.Fatalf("rewritten frame decodes to %v:\n%+v\nwant\n%+v", r, q, p)
	}
	if len(f) != len(frame) || !bytes.Equal(f[p.End:], frame[p.End:]) {
		t.Fatalf("rewrite touched bytes past the IP packet")
	}
}

func addSamples(f *testing.F) {
	for _, s := range samples() {
		f.Add(s.frame)
	}
}

func FuzzDecode(f *testing.F) {
	addSamples(f)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) { checkDecode(t, frame) })
}

// ipFrame wraps an IP packet in an Ethernet header; with fix it also
// corrects an IPv4 header checksum so the fuzzer gets past it.
func ipFrame(ip []byte, etherType uint16, fix bool) []byte {
	f := make([]byte, ethHeaderLen+len(ip))
	putEthernet(f, macB, macA, 0, etherType)
	copy(f[ethHeaderLen:], ip)
	if fix && len(ip) >= ipv4MinHeaderLen {
		if hl := int(ip[0]&0x0f) * 4; hl >= ipv4MinHeaderLen && hl <= len(ip) {
			fixIPv4(f, ethHeaderLen)
		}
	}
	return f
}

func FuzzDecodeIPv4(f *testing.F) {
	for _, s := range samples() {
		if be.Uint16(s.frame[12:]) == EtherTypeIPv4 {
			f.Add(s.frame[ethHeaderLen:], true)
		}
	}
	f.Fuzz(func(t *testing.T, ip []byte, fix bool) { checkDecode(t, ipFrame(ip, EtherTypeIPv4, fix)) })
}

func FuzzDecodeIPv6(f *testing.F) {
	for _, s := range samples() {
		if be.Uint16(s.frame[12:]) == EtherTypeIPv6 {
			f.Add(s.frame[ethHeaderLen:])
		}
	}
	f.Fuzz(func(t *testing.T, ip []byte) { checkDecode(t, ipFrame(ip, EtherTypeIPv6, false)) })
}

func FuzzDecodeARP(f *testing.F) {
	for _, s := range samples() {
		if be.Uint16(s.frame[12:]) == EtherTypeARP {
			f.Add(s.frame[ethHeaderLen:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		frame := ipFrame(body, EtherTypeARP, false)
		var p Parsed
		r := p.Decode(frame)
		if (r == DropNone) != (len(body) >= arpLen) {
			t.Fatalf("ARP body of %d bytes: %v", len(body), r)
		}
		if r == DropNone && p.Class == ClassARP {
			buf := make([]byte, 64)
			n := BuildARP(buf, p.DstMAC, 0, &p.ARP)
			var q Parsed
			if q.Decode(buf[:n]) != DropNone || q.ARP != p.ARP {
				t.Fatalf("ARP round trip: %+v -> %+v", p.ARP, q.ARP)
			}
		}
	})
}

// FuzzDecodeICMPError puts fuzzed bytes behind a valid ICMP error header,
// to reach the parser of the quoted packet.
func FuzzDecodeICMPError(f *testing.F) {
	for _, s := range samples() {
		var p Parsed
		if p.Decode(s.frame) == DropNone && p.Flags&FlagICMPError != 0 {
			f.Add(s.frame[p.L4Off+icmpHeaderLen:p.End], p.Family == 6, p.ICMPType)
		}
	}
	f.Fuzz(func(t *testing.T, quote []byte, v6 bool, typ uint8) {
		s := Spec{Src: ip4A, Dst: ip4B, Proto: ProtoICMP, ICMPType: typ, Payload: quote}
		if v6 {
			s.Src, s.Dst, s.Proto = ip6A, ip6B, ProtoICMPv6
		}
		buf := make([]byte, len(quote)+128)
		n := Build(buf, &s)
		if n == 0 {
			return
		}
		checkDecode(t, buf[:n])
	})
}

// FuzzBuild builds a frame from fuzzed fields and decodes it back.
func FuzzBuild(f *testing.F) {
	f.Add(uint8(ProtoTCP), false, uint16(0), uint16(1), uint16(2), uint32(3), uint8(TCPSyn), []byte{2, 4, 5, 0xb4}, []byte("x"))
	f.Add(uint8(ProtoUDP), true, uint16(5), uint16(1), uint16(2), uint32(3), uint8(0), []byte{}, []byte("payload"))
	f.Add(uint8(ProtoICMP), false, uint16(0), uint16(1), uint16(2), uint32(3), uint8(8), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, proto uint8, v6 bool, vlan, sport, dport uint16, seq uint32, x uint8, opts, payload []byte) {
		s := Spec{DstMAC: macB, SrcMAC: macA, VLANID: vlan & 0x0fff, Src: ip4A, Dst: ip4B, Proto: proto,
			SrcPort: sport, DstPort: dport, Seq: seq, TCPFlags: x, ICMPType: x, ICMPID: sport, TCPOptions: opts, Payload: payload}
		if v6 {
			s.Src, s.Dst = ip6A, ip6B
		}
		buf := make([]byte, len(payload)+256)
		n := Build(buf, &s)
		if n == 0 {
			return
		}
		var p Parsed
		r := p.Decode(buf[:n])
		switch {
		case r == DropICMPInner && p.Flags&FlagICMPError != 0:
			return // an error type whose payload is not a packet
		case v6 && (proto == ProtoHopByHop || proto == ProtoRouting || proto == ProtoFragment || proto == ProtoAH || proto == ProtoDestOpts):
			return // the raw payload is read as extension headers
		}
		if r != DropNone {
			t.Fatalf("built frame drops: %v (%+v)", r, s)
		}
		if p.Src != s.Src || p.Dst != s.Dst || p.VLANID != s.VLANID {
			t.Fatalf("round trip: %+v", p.Headers)
		}
		if p.Flags&FlagL4 != 0 && (proto == ProtoTCP || proto == ProtoUDP) && (p.SrcPort != sport || p.DstPort != dport) {
			t.Fatalf("ports %d %d", p.SrcPort, p.DstPort)
		}
		if !ChecksumsValid(buf[:n], &p) {
			t.Fatalf("built frame has bad checksums")
		}
		checkDecode(t, buf[:n])
	})
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0xf7}, uint16(0))
	f.Add([]byte{0xff}, uint16(0xffff))
	f.Fuzz(func(t *testing.T, b []byte, init uint16) {
		got, want := Sum(b, init), refSum(b, uint32(init))
		if got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("Sum %04x, reference %04x", got, want)
		}
	})
}
