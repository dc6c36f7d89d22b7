package packet

import "testing"

// TestNoAllocs proves the per-packet paths allocate nothing.
func TestNoAllocs(t *testing.T) {
	var p Parsed
	ss := samples()
	buf := make([]byte, 2048)
	tcp := mustBuild(tcp4Spec())
	icmpErr := ss[len(ss)-2].frame
	s := udp4Spec()
	tests := []struct {
		name string
		fn   func()
	}{
		{"Decode", func() {
			for _, s := range ss {
				p.Decode(s.frame)
			}
		}},
		{"NAT rewrite", func() {
			p.Decode(tcp)
			SetIPv4Src(tcp, &p, [4]byte{1, 2, 3, 4})
			SetSrcPort(tcp, &p, 1234)
			SetDstAddr(tcp, &p, ip4B)
			SetDstPort(tcp, &p, 80)
			DecrementTTL(tcp, &p)
		}},
		{"inner rewrite", func() {
			p.Decode(icmpErr)
			SetDstAddr(icmpErr, &p, ip6A)
			SetInnerSrcAddr(icmpErr, &p, ip6A)
			SetInnerSrcPort(icmpErr, &p, 9)
			SetInnerICMPID(icmpErr, &p, 9)
		}},
		{"checksums", func() {
			p.Decode(tcp)
			ChecksumsValid(tcp, &p)
			UpdateChecksums(tcp, &p)
		}},
		{"Build", func() { Build(buf, &s) }},
		{"BuildICMPError", func() {
			p.Decode(tcp)
			BuildICMPError(buf, tcp, &p, &ICMPError{Src: ip4B, Type: ICMPTimeExceeded})
		}},
		{"neighbour", func() {
			BuildUnsolicitedNA(buf, 0, macA, ip6A, ip6A, true)
			BuildGratuitousARP(buf, 0, macA, [4]byte{10, 0, 0, 1})
			BuildARPRequest(buf, 0, macA, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
			BuildARPReply(buf, 0, macA, [4]byte{10, 0, 0, 1}, &p.ARP)
		}},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, n)
		}
	}
}
