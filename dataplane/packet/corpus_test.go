package packet

// Well-formed frames shared by the decode, truncation, allocation, fuzz and
// benchmark code.

type sample struct {
	name  string
	frame []byte
}

func mustBuild(s Spec) []byte {
	buf := make([]byte, 256+len(s.Payload))
	n := Build(buf, &s)
	if n == 0 {
		panic("mustBuild: Build returned 0")
	}
	return buf[:n:n]
}

func udp4Spec() Spec {
	return Spec{DstMAC: macB, SrcMAC: macA, Src: ip4A, Dst: ip4B, Proto: ProtoUDP,
		SrcPort: 40000, DstPort: 8116, IPID: 0x1234, Payload: []byte("0123456789abcdef0123")}
}

func tcp4Spec() Spec {
	return Spec{DstMAC: macB, SrcMAC: macA, Src: ip4A, Dst: ip4B, Proto: ProtoTCP,
		SrcPort: 40000, DstPort: 443, Seq: 0x01020304, Ack: 0x0a0b0c0d, TCPFlags: TCPSyn | TCPAck,
		Window: 64240, TCPOptions: []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}, DontFragment: true,
		Payload: []byte("hello")}
}

func udp6Spec() Spec {
	return Spec{DstMAC: macB, SrcMAC: macA, Src: ip6A, Dst: ip6B, Proto: ProtoUDP,
		SrcPort: 5353, DstPort: 53, Payload: []byte("question?")}
}

func tcp6Spec() Spec {
	s := tcp4Spec()
	s.Src, s.Dst = ip6A, ip6B
	return s
}

func echo4Spec() Spec {
	return Spec{DstMAC: macB, SrcMAC: macA, Src: ip4A, Dst: ip4B, Proto: ProtoICMP,
		ICMPType: ICMPEchoRequest, ICMPID: 0x4242, ICMPSeq: 7, Payload: []byte("ping")}
}

func echo6Spec() Spec {
	return Spec{DstMAC: macB, SrcMAC: macA, Src: ip6A, Dst: ip6B, Proto: ProtoICMPv6,
		ICMPType: ICMPv6EchoRequest, ICMPID: 0x4343, ICMPSeq: 8, Payload: []byte("ping6")}
}

// icmpErrorFrame builds an ICMP error of type typ/code from router about
// the packet orig (decoded into its Parsed).
func icmpErrorFrame(orig []byte, router [16]byte, typ, code uint8, param uint32) []byte {
	var p Parsed
	if r := p.Decode(orig); r != DropNone {
		panic("icmpErrorFrame: " + r.String())
	}
	buf := make([]byte, 2048)
	e := ICMPError{DstMAC: p.SrcMAC, SrcMAC: p.DstMAC, Src: router, Type: typ, Code: code, Param: param}
	n := BuildICMPError(buf, orig, &p, &e)
	if n == 0 {
		panic("icmpErrorFrame: BuildICMPError returned 0")
	}
	return buf[:n:n]
}

// samples returns one well-formed frame of each kind Decode knows. None is
// padded: cutting any of them short must be a drop.
func samples() []sample {
	vlan := udp4Spec()
	vlan.VLANID = 100
	s := []sample{
		{"udp4", mustBuild(udp4Spec())},
		{"tcp4", mustBuild(tcp4Spec())},
		{"udp6", mustBuild(udp6Spec())},
		{"tcp6", mustBuild(tcp6Spec())},
		{"echo4", mustBuild(echo4Spec())},
		{"echo6", mustBuild(echo6Spec())},
		{"udp4-vlan", mustBuild(vlan)},
	}
	buf := make([]byte, 128)
	n := BuildARPRequest(buf, 0, macA, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
	s = append(s, sample{"arp", buf[:n:n]})
	buf = make([]byte, 128)
	n = BuildUnsolicitedNA(buf, 0, macA, ip6A, ip6A, true)
	s = append(s, sample{"na", buf[:n:n]})
	router4 := Addr4([4]byte{198, 51, 100, 1})
	router6 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: 1}
	s = append(s,
		sample{"icmp4-time-exceeded-tcp", icmpErrorFrame(s[1].frame, router4, ICMPTimeExceeded, 0, 0)},
		sample{"icmp4-frag-needed-udp", icmpErrorFrame(s[0].frame, router4, ICMPUnreachable, ICMPCodeFragNeeded, 1400)},
		sample{"icmp4-time-exceeded-echo", icmpErrorFrame(s[4].frame, router4, ICMPTimeExceeded, 0, 0)},
		sample{"icmp6-too-big-tcp", icmpErrorFrame(s[3].frame, router6, ICMPv6PacketTooBig, 0, 1280)},
		sample{"icmp6-unreach-udp", icmpErrorFrame(s[2].frame, router6, ICMPv6Unreachable, 4, 0)},
		sample{"icmp6-time-exceeded-echo", icmpErrorFrame(s[5].frame, router6, ICMPv6TimeExceeded, 0, 0)},
		sample{"udp6-ext", withExt(mustBuild(udp6Spec()),
			ext{ProtoHopByHop, make([]byte, 8)},
			ext{ProtoDestOpts, make([]byte, 16)},
			ext{ProtoRouting, make([]byte, 8)},
			ext{ProtoAH, make([]byte, 12)},
		)},
	)
	return s
}
