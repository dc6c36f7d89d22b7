package packet

import (
	"bytes"
	"testing"
)

func TestBuildInvalid(t *testing.T) {
	buf := make([]byte, 2048)
	bad := []Spec{
		{Src: ip4A, Dst: ip6B, Proto: ProtoUDP},                              // mixed families
		{Src: ip6A, Dst: ip6B, Proto: ProtoICMP},                             // ICMPv4 in IPv6
		{Src: ip4A, Dst: ip4B, Proto: ProtoICMPv6},                           // ICMPv6 in IPv4
		{Src: ip4A, Dst: ip4B, Proto: ProtoTCP, TCPOptions: []byte{1, 1, 1}}, // options not padded
		{Src: ip4A, Dst: ip4B, Proto: ProtoTCP, TCPOptions: make([]byte, 44)},
		{Src: ip4A, Dst: ip4B, Proto: ProtoUDP, PayloadLen: -1},
		{Src: ip4A, Dst: ip4B, Proto: ProtoUDP, Payload: make([]byte, 2048)}, // does not fit
	}
	for i, s := range bad {
		if n := Build(buf, &s); n != 0 {
			t.Errorf("spec %d: Build = %d, want 0", i, n)
		}
	}
	big := make([]byte, 70000)
	if n := Build(big, &Spec{Src: ip6A, Dst: ip6B, Proto: ProtoUDP, PayloadLen: 65535}); n != 0 {
		t.Errorf("oversized frame: Build = %d", n)
	}
}

// TestBuildZeroCopy writes the payload first, in place, then the headers.
func TestBuildZeroCopy(t *testing.T) {
	s := udp4Spec()
	want := mustBuild(s)
	s.Payload, s.PayloadLen = nil, len(s.Payload)
	buf := make([]byte, 256)
	copy(buf[HeaderLen(&s):], udp4Spec().Payload)
	if n := Build(buf, &s); !bytes.Equal(buf[:n], want) {
		t.Errorf("in-place payload:\n% x\n% x", buf[:n], want)
	}
}

func TestBuildUnsolicitedNA(t *testing.T) {
	buf := make([]byte, 128)
	for _, vlan := range []uint16{0, 10} {
		n := BuildUnsolicitedNA(buf, vlan, macA, ip6A, ip6B, true)
		want := 86
		if vlan != 0 {
			want += 4
		}
		if n != want {
			t.Fatalf("length %d, want %d", n, want)
		}
		p := decode(t, buf[:n])
		if p.DstMAC != allNodesMAC || p.Dst != allNodesIPv6 || p.TTL != 255 || p.ICMPType != ICMPv6NeighborAdvert || p.ICMPCode != 0 {
			t.Errorf("NA header: %+v", p.Headers)
		}
		body := buf[p.L4Off:n]
		if body[4] != 0xa0 || !bytes.Equal(body[8:24], ip6B[:]) || body[24] != 2 || body[25] != 1 || !bytes.Equal(body[26:32], macA[:]) {
			t.Errorf("NA body % x", body)
		}
		if !ChecksumsValid(buf[:n], p) || !p.IsNDP() {
			t.Errorf("NA checksum or IsNDP")
		}
	}
	if decode(t, mustBuild(echo6Spec())).IsNDP() {
		t.Errorf("echo request taken for NDP")
	}
	if n := BuildUnsolicitedNA(buf[:85], 0, macA, ip6A, ip6B, false); n != 0 {
		t.Errorf("short buffer: %d", n)
	}
	if n := BuildARP(buf[:41], broadcastMAC, 0, &ARP{}); n != 0 {
		t.Errorf("short ARP buffer: %d", n)
	}
}

func TestBuildICMPError(t *testing.T) {
	router4 := Addr4([4]byte{198, 51, 100, 1})
	router6 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: 1}

	// Quote size: the whole offending packet when small; cut at 576 (IPv4)
	// or 1280 (IPv6) bytes of error datagram when large.
	for _, tc := range []struct {
		s      Spec
		router [16]byte
		typ    uint8
		ipMax  int
	}{
		{udp4Spec(), router4, ICMPTimeExceeded, 576},
		{udp6Spec(), router6, ICMPv6TimeExceeded, 1280},
	} {
		for _, plen := range []int{0, 100, 3000} {
			s := tc.s
			s.Payload = make([]byte, plen)
			orig := mustBuild(s)
			e := icmpErrorFrame(orig, tc.router, tc.typ, 0, 0)
			p := decode(t, e)
			origIP := len(orig) - ethHeaderLen
			wantIP := min(int(p.L4Off)-ethHeaderLen+icmpHeaderLen+origIP, tc.ipMax)
			if got := int(p.End) - ethHeaderLen; got != wantIP {
				t.Errorf("v%d payload %d: error IP length %d, want %d", p.Family, plen, got, wantIP)
			}
			if !bytes.Equal(e[p.L4Off+8:p.End], orig[ethHeaderLen:ethHeaderLen+int(p.End-p.L4Off-8)]) {
				t.Errorf("quote differs from the offending packet")
			}
			if p.Src != tc.router || p.Inner.Flags&FlagTruncated != 0 != (wantIP == tc.ipMax) {
				t.Errorf("src %x truncated %v", p.Src, p.Inner.Flags&FlagTruncated != 0)
			}
		}
	}

	// Rest-of-header parameters.
	orig := mustBuild(udp4Spec())
	e := icmpErrorFrame(orig, router4, ICMPUnreachable, ICMPCodeFragNeeded, 1400)
	if be.Uint16(e[ethHeaderLen+20+6:]) != 1400 {
		t.Errorf("frag-needed MTU % x", e[ethHeaderLen+20:ethHeaderLen+28])
	}
	e = icmpErrorFrame(orig, router4, ICMPParamProblem, 0, 9)
	if e[ethHeaderLen+20+4] != 9 {
		t.Errorf("parameter problem pointer % x", e[ethHeaderLen+20:ethHeaderLen+28])
	}
	e = icmpErrorFrame(mustBuild(udp6Spec()), router6, ICMPv6PacketTooBig, 0, 1280)
	if be.Uint32(e[ethHeaderLen+40+4:]) != 1280 {
		t.Errorf("packet too big MTU % x", e[ethHeaderLen+40:ethHeaderLen+48])
	}

	// In place: the reply overwrites the offending frame.
	want := icmpErrorFrame(orig, router4, ICMPTimeExceeded, 0, 0)
	buf := make([]byte, 600)
	copy(buf, orig)
	var p Parsed
	p.Decode(buf[:len(orig)])
	ie := ICMPError{DstMAC: p.SrcMAC, SrcMAC: p.DstMAC, Src: router4, Type: ICMPTimeExceeded}
	if n := BuildICMPError(buf, buf[:len(orig)], &p, &ie); !bytes.Equal(buf[:n], want) {
		t.Errorf("in-place error:\n% x\n% x", buf[:n], want)
	}
}

func TestBuildICMPErrorRefused(t *testing.T) {
	router4 := Addr4([4]byte{198, 51, 100, 1})
	router6 := [16]byte{0x20, 0x01, 15: 1}
	mk := func(s Spec, mod func([]byte)) (*Parsed, []byte) {
		f := mustBuild(s)
		if mod != nil {
			mod(f)
		}
		return decode(t, f), f
	}
	later := func(f []byte) { be.PutUint16(f[ethHeaderLen+6:], 0x0008); fixIPv4(f, ethHeaderLen) }
	tests := []struct {
		name   string
		s      Spec
		mod    func([]byte)
		router [16]byte
		typ    uint8
		code   uint8
		ok     bool
	}{
		{"plain v4", udp4Spec(), nil, router4, ICMPTimeExceeded, 0, true},
		{"router of the other family", udp4Spec(), nil, router6, ICMPTimeExceeded, 0, false},
		{"later fragment", udp4Spec(), later, router4, ICMPTimeExceeded, 0, false},
		{"about an ICMP error", Spec{Src: ip4A, Dst: ip4B, Proto: ProtoICMP, ICMPType: ICMPUnreachable, Payload: mustBuild(udp4Spec())[ethHeaderLen:]}, nil, router4, ICMPTimeExceeded, 0, false},
		{"to multicast", func() Spec { s := udp4Spec(); s.Dst = Addr4([4]byte{239, 1, 1, 1}); return s }(), nil, router4, ICMPTimeExceeded, 0, false},
		{"to broadcast MAC", func() Spec { s := udp4Spec(); s.DstMAC = broadcastMAC; return s }(), nil, router4, ICMPUnreachable, 0, false},
		{"from 0.0.0.0", func() Spec { s := udp4Spec(); s.Src = Addr4([4]byte{}); return s }(), nil, router4, ICMPUnreachable, 0, false},
		{"from loopback", func() Spec { s := udp4Spec(); s.Src = Addr4([4]byte{127, 0, 0, 1}); return s }(), nil, router4, ICMPUnreachable, 0, false},
		{"plain v6", udp6Spec(), nil, router6, ICMPv6Unreachable, 0, true},
		{"v6 from ::", func() Spec { s := udp6Spec(); s.Src = [16]byte{}; return s }(), nil, router6, ICMPv6Unreachable, 0, false},
		{"v6 to multicast", func() Spec { s := udp6Spec(); s.Dst = allNodesIPv6; return s }(), nil, router6, ICMPv6Unreachable, 0, false},
		{"v6 too big to multicast", func() Spec { s := udp6Spec(); s.Dst = allNodesIPv6; return s }(), nil, router6, ICMPv6PacketTooBig, 0, true},
		{"v6 param problem 2 to multicast", func() Spec { s := udp6Spec(); s.Dst = allNodesIPv6; return s }(), nil, router6, ICMPv6ParamProblem, 2, true},
	}
	buf := make([]byte, 2048)
	for _, tt := range tests {
		p, f := mk(tt.s, tt.mod)
		e := ICMPError{Src: tt.router, Type: tt.typ, Code: tt.code}
		if n := BuildICMPError(buf, f, p, &e); (n != 0) != tt.ok {
			t.Errorf("%s: BuildICMPError = %d, want sent %v", tt.name, n, tt.ok)
		}
	}
	p, f := mk(udp4Spec(), nil)
	if n := BuildICMPError(buf[:ethHeaderLen+28], f, p, &ICMPError{Src: router4, Type: ICMPTimeExceeded}); n != 0 {
		t.Errorf("no room for a quote: %d", n)
	}
}
