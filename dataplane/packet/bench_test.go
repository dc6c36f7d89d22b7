package packet

import "testing"

// reportPPS adds packets per second per core, 1e9 / ns/op.
func reportPPS(b *testing.B) {
	if ns := b.Elapsed().Nanoseconds(); ns > 0 {
		b.ReportMetric(float64(b.N)*1e9/float64(ns), "pps")
	}
}

// frame64 pads f with zeros to the 64-byte minimum Ethernet frame (with
// FCS: 60 bytes here); Decode ignores the padding.
func frame64(f []byte) []byte {
	if len(f) >= 60 {
		return f
	}
	return append(f, make([]byte, 60-len(f))...)
}

func benchDecode(b *testing.B, f []byte) {
	var p Parsed
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if p.Decode(f) != DropNone {
			b.Fatal("drop")
		}
	}
	reportPPS(b)
}

func BenchmarkDecodeUDP4(b *testing.B) {
	s := udp4Spec()
	s.Payload = s.Payload[:18] // 14 + 20 + 8 + 18 = 60 bytes, a 64-byte frame with FCS
	benchDecode(b, frame64(mustBuild(s)))
}

func BenchmarkDecodeTCP4(b *testing.B) { benchDecode(b, mustBuild(tcp4Spec())) }
func BenchmarkDecodeTCP6(b *testing.B) { benchDecode(b, mustBuild(tcp6Spec())) }

func BenchmarkDecodeICMPError(b *testing.B) {
	benchDecode(b, icmpErrorFrame(mustBuild(tcp4Spec()), Addr4([4]byte{198, 51, 100, 1}), ICMPTimeExceeded, 0, 0))
}

// BenchmarkNATRewrite is the forwarding path's SNAT of a TCP/IPv4 packet:
// source address and port, TTL, all checksums incremental.
func BenchmarkNATRewrite(b *testing.B) {
	f := mustBuild(tcp4Spec())
	var p Parsed
	p.Decode(f)
	a := [2][4]byte{{203, 0, 113, 5}, {10, 0, 0, 1}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		SetIPv4Src(f, &p, a[i&1])
		SetSrcPort(f, &p, uint16(i))
		p.TTL = 64 // keep DecrementTTL going
		DecrementTTL(f, &p)
		i++
	}
	reportPPS(b)
}

// BenchmarkDecodeRewrite6 is Decode plus SNAT of a TCP/IPv6 packet.
func BenchmarkDecodeRewrite6(b *testing.B) {
	f := mustBuild(tcp6Spec())
	var p Parsed
	a := [2][16]byte{ip6A, ip6B}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Decode(f)
		SetSrcAddr(f, &p, a[i&1])
		SetSrcPort(f, &p, uint16(i))
		i++
	}
	reportPPS(b)
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf, 0)
	}
}

func BenchmarkBuildUDP4(b *testing.B) {
	s := udp4Spec()
	buf := make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		Build(buf, &s)
	}
	reportPPS(b)
}
