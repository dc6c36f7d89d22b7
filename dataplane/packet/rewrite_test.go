package packet

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func randAddr(r *rand.Rand, v4 bool) [16]byte {
	var a [16]byte
	for i := range a {
		a[i] = uint8(r.Uint32())
	}
	if v4 {
		a = Addr4([4]byte{a[0], a[1], a[2], a[3]})
	}
	return a
}

// randUnicast returns a random address that may be the source of a packet
// an ICMP error is sent about.
func randUnicast(r *rand.Rand, v4 bool) [16]byte {
	a := randAddr(r, v4)
	if v4 {
		a[12] = uint8(1 + r.IntN(126))
	} else {
		a[0] = 0x20
	}
	return a
}

// randSpec returns a random TCP, UDP or ICMP echo packet of either family.
func randSpec(r *rand.Rand) Spec {
	v4 := r.IntN(2) == 0
	s := Spec{DstMAC: macB, SrcMAC: macA, Src: randAddr(r, v4), Dst: randAddr(r, v4),
		TTL: uint8(2 + r.IntN(250)), IPID: uint16(r.Uint32()),
		SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()),
		Seq: r.Uint32(), Ack: r.Uint32(), TCPFlags: uint8(r.Uint32()), Window: uint16(r.Uint32()),
		ICMPID: uint16(r.Uint32()), ICMPSeq: uint16(r.Uint32())}
	if r.IntN(4) == 0 {
		s.VLANID = uint16(1 + r.IntN(4094))
	}
	switch r.IntN(3) {
	case 0:
		s.Proto = ProtoTCP
	case 1:
		s.Proto = ProtoUDP
	default:
		s.Proto, s.ICMPType = ProtoICMP, ICMPEchoRequest
		if !v4 {
			s.Proto, s.ICMPType = ProtoICMPv6, ICMPv6EchoRequest
		}
	}
	s.Payload = make([]byte, r.IntN(120))
	for i := range s.Payload {
		s.Payload[i] = uint8(r.Uint32())
	}
	return s
}

// zeroUDPChecksum clears the UDP checksum of an IPv4 frame ("none sent").
func zeroUDPChecksum(f []byte, p *Parsed) {
	if p.Family == 4 && p.Proto == ProtoUDP {
		be.PutUint16(f[p.L4Off+6:], 0)
	}
}

// TestRewriteMatchesBuild rewrites random packets in place with the NAT
// helpers and checks the result byte for byte against the same packet
// built from scratch with the new values: the incremental checksums must
// equal a full recompute.
func TestRewriteMatchesBuild(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		s := randSpec(r)
		f := mustBuild(s)
		p := decode(t, f)
		noUDPSum := r.IntN(5) == 0
		if noUDPSum {
			zeroUDPChecksum(f, p)
		}
		want := s
		v4 := p.Family == 4
		switch r.IntN(4) {
		case 0: // SNAT
			want.Src, want.SrcPort, want.ICMPID = randAddr(r, v4), uint16(r.Uint32()), uint16(r.Uint32())
			SetSrcAddr(f, p, want.Src)
			if SetSrcPort(f, p, want.SrcPort) != (s.Proto == ProtoTCP || s.Proto == ProtoUDP) {
				t.Fatalf("SetSrcPort result on proto %d", s.Proto)
			}
		case 1: // DNAT
			want.Dst, want.DstPort, want.ICMPID = randAddr(r, v4), uint16(r.Uint32()), uint16(r.Uint32())
			SetDstAddr(f, p, want.Dst)
			SetDstPort(f, p, want.DstPort)
		case 2: // IPv4 helpers and TTL
			if v4 {
				a := randAddr(r, true)
				want.Src = a
				SetIPv4Src(f, p, IPv4(a))
				a = randAddr(r, true)
				want.Dst = a
				SetIPv4Dst(f, p, IPv4(a))
			}
			want.TTL--
			want.ICMPID = s.ICMPID
			if !DecrementTTL(f, p) {
				t.Fatalf("DecrementTTL refused TTL %d", s.TTL)
			}
		default: // everything
			want.Src, want.Dst = randAddr(r, v4), randAddr(r, v4)
			want.SrcPort, want.DstPort, want.ICMPID = uint16(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32())
			want.TTL--
			DecrementTTL(f, p)
			SetDstPort(f, p, want.DstPort)
			SetSrcAddr(f, p, want.Src)
			SetSrcPort(f, p, want.SrcPort)
			SetDstAddr(f, p, want.Dst)
		}
		isICMP := s.Proto == ProtoICMP || s.Proto == ProtoICMPv6
		if isICMP {
			if !SetICMPID(f, p, want.ICMPID) {
				t.Fatalf("SetICMPID refused an echo")
			}
			want.SrcPort, want.DstPort = s.SrcPort, s.DstPort
		} else {
			want.ICMPID = s.ICMPID
			if SetICMPID(f, p, 1) {
				t.Fatalf("SetICMPID accepted proto %d", s.Proto)
			}
		}
		wf := mustBuild(want)
		wp := decode(t, wf)
		if noUDPSum {
			zeroUDPChecksum(wf, wp)
		}
		if !bytes.Equal(f, wf) {
			t.Fatalf("iteration %d (%+v):\nrewritten % x\nbuilt     % x", i, s, f, wf)
		}
		if *p != *wp {
			t.Fatalf("iteration %d: Parsed out of step with the frame:\n%+v\n%+v", i, p.Headers, wp.Headers)
		}
	}
}

func TestUDPChecksumZeroRules(t *testing.T) {
	f := mustBuild(udp4Spec())
	p := decode(t, f)
	zeroUDPChecksum(f, p)
	SetSrcAddr(f, p, ip4B)
	SetSrcPort(f, p, 1)
	if be.Uint16(f[p.L4Off+6:]) != 0 || !ChecksumsValid(f, p) {
		t.Errorf("a UDP checksum of 0 must stay 0")
	}
	// Find a port change whose updated checksum comes out 0: it must be sent
	// as ffff.
	for port := 0; port < 65536; port++ {
		g := mustBuild(udp4Spec())
		q := decode(t, g)
		c := be.Uint16(g[q.L4Off+6:])
		if ChecksumUpdate16(c, q.SrcPort, uint16(port)) != 0 {
			continue
		}
		SetSrcPort(g, q, uint16(port))
		if got := be.Uint16(g[q.L4Off+6:]); got != 0xffff || !ChecksumsValid(g, q) {
			t.Errorf("computed zero written as %04x", got)
		}
		return
	}
	t.Errorf("no port gives a zero checksum")
}

func TestDecrementTTLExpired(t *testing.T) {
	for _, ttl := range []uint8{1, 255} {
		s := udp6Spec()
		s.TTL = ttl
		f := mustBuild(s)
		p := decode(t, f)
		if got := DecrementTTL(f, p); got != (ttl > 1) {
			t.Errorf("TTL %d: DecrementTTL = %v", ttl, got)
		}
	}
	f := mustBuild(udp4Spec())
	p := decode(t, f)
	f[p.L3Off+8] = 1
	fixIPv4(f, int(p.L3Off))
	p = decode(t, f)
	before := append([]byte{}, f...)
	if DecrementTTL(f, p) || !bytes.Equal(f, before) {
		t.Errorf("TTL 1 must be refused and left alone")
	}
}

// TestRewriteLaterFragment: a later fragment has no ports; an address
// rewrite touches only the IP header.
func TestRewriteLaterFragment(t *testing.T) {
	f := mustBuild(tcp4Spec())
	be.PutUint16(f[ethHeaderLen+6:], 0x0010)
	fixIPv4(f, ethHeaderLen)
	p := decode(t, f)
	tail := append([]byte{}, f[p.L4Off:]...)
	SetSrcAddr(f, p, ip4B)
	if SetSrcPort(f, p, 9) || !bytes.Equal(tail, f[p.L4Off:]) || Sum(f[p.L3Off:p.L4Off], 0) != 0xffff {
		t.Errorf("later fragment rewrite went past the IP header")
	}
}

// TestRewriteICMPErrorInner plays the NAT's reverse path for an ICMP error:
// the router's error about a translated packet (from natAddr:natPort) is
// rewritten to the client (outer destination, quoted source and port or
// echo id). The result must equal the error the router would have sent about
// the untranslated packet, byte for byte.
func TestRewriteICMPErrorInner(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 5000; i++ {
		client := randSpec(r)
		v4 := Is4(client.Src)
		client.Src, client.Dst = randUnicast(r, v4), randUnicast(r, v4)
		translated := client
		translated.Src = randUnicast(r, v4)
		translated.SrcPort = uint16(r.Uint32())
		translated.ICMPID = uint16(r.Uint32())
		router := randAddr(r, v4)
		typ, code := uint8(ICMPTimeExceeded), uint8(0)
		if !v4 {
			typ = ICMPv6TimeExceeded
		}
		// Larger packets are cut to fit the quote limit; use them too.
		if r.IntN(4) == 0 {
			client.Payload = make([]byte, 600+r.IntN(900))
			translated.Payload = client.Payload
		}
		noUDPSum := r.IntN(5) == 0
		mk := func(s Spec) []byte {
			o := mustBuild(s)
			if noUDPSum {
				var q Parsed
				q.Decode(o)
				zeroUDPChecksum(o, &q)
			}
			return icmpErrorFrame(o, router, typ, code, 0)
		}
		got := mk(translated)
		want := mk(client)
		p := decode(t, got)
		SetDstAddr(got, p, client.Src)
		if !SetInnerSrcAddr(got, p, client.Src) {
			t.Fatalf("SetInnerSrcAddr refused")
		}
		switch client.Proto {
		case ProtoTCP, ProtoUDP:
			if !SetInnerSrcPort(got, p, client.SrcPort) || SetInnerICMPID(got, p, 1) {
				t.Fatalf("inner port rewrite")
			}
		default:
			if !SetInnerICMPID(got, p, client.ICMPID) || SetInnerSrcPort(got, p, 1) {
				t.Fatalf("inner id rewrite")
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("iteration %d proto %d v4 %v:\ngot  % x\nwant % x", i, client.Proto, v4, got, want)
		}
		if wp := decode(t, want); *p != *wp {
			t.Fatalf("Parsed out of step:\n%+v\n%+v", p.Inner, wp.Inner)
		}
	}
	// On a plain packet the inner helpers do nothing.
	f := mustBuild(udp4Spec())
	p := decode(t, f)
	if SetInnerSrcAddr(f, p, ip4B) || SetInnerDstAddr(f, p, ip4B) || SetInnerDstPort(f, p, 1) {
		t.Errorf("inner rewrite on a packet that is not an ICMP error")
	}
}

// TestRewriteRefused: a rewrite that does not fit the packet changes nothing.
func TestRewriteRefused(t *testing.T) {
	f := mustBuild(udp6Spec())
	p := decode(t, f)
	before := append([]byte{}, f...)
	if SetIPv4Src(f, p, [4]byte{1, 2, 3, 4}) || SetDstAddr(f, p, ip4A) || !bytes.Equal(f, before) {
		t.Errorf("IPv4 address written into an IPv6 packet")
	}
	buf := make([]byte, 64)
	n := BuildGratuitousARP(buf, 0, macA, [4]byte{10, 0, 0, 1})
	arp := buf[:n]
	p = decode(t, arp)
	before = append([]byte{}, arp...)
	if SetSrcAddr(arp, p, ip4A) || SetSrcPort(arp, p, 1) || SetICMPID(arp, p, 1) || DecrementTTL(arp, p) || !bytes.Equal(arp, before) {
		t.Errorf("rewrite of an ARP frame")
	}
}
