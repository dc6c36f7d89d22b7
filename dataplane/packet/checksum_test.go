package packet

import (
	"math/rand/v2"
	"testing"
)

func TestChecksumKnown(t *testing.T) {
	// RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
	if got := Sum(unhex(t, "0001f203f4f5f6f7"), 0); got != 0xddf2 {
		t.Errorf("RFC 1071 example: %04x, want ddf2", got)
	}
	if got := Checksum(unhex(t, "0001f203f4f5f6f7"), 0); got != 0x220d {
		t.Errorf("RFC 1071 checksum: %04x, want 220d", got)
	}
	// A textbook IPv4 header (192.168.0.1 -> 192.168.0.199, UDP) with
	// checksum b861, and the same header zeroed.
	hdr := unhex(t, "4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")
	if Sum(hdr, 0) != 0xffff {
		t.Errorf("known header does not verify")
	}
	hdr[10], hdr[11] = 0, 0
	if got := Checksum(hdr, 0); got != 0xb861 {
		t.Errorf("known header: %04x, want b861", got)
	}
	// RFC 1624 section 4: HC=dd2f, m=5555 -> m'=3285 gives 0000 (eqn. 3),
	// where RFC 1141's eqn. 2 gave ffff.
	if got := ChecksumUpdate16(0xdd2f, 0x5555, 0x3285); got != 0x0000 {
		t.Errorf("RFC 1624 example: %04x, want 0000", got)
	}
	if Sum(nil, 0x1234) != 0x1234 || Sum([]byte{0xab}, 0) != 0xab00 {
		t.Errorf("empty or one-byte sums")
	}
}

// TestSumMatchesReference compares the 64-bit-word Sum with the RFC 1071
// 16-bit loop on random data of every length up to 300 and random offsets.
func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 320)
	for i := range buf {
		buf[i] = uint8(r.Uint32())
	}
	for n := 0; n <= 300; n++ {
		for _, off := range []int{0, 1, 3, 8} {
			init := uint16(r.Uint32())
			b := buf[off : off+n]
			if got, want := Sum(b, init), refSum(b, uint32(init)); got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
				t.Fatalf("n=%d off=%d: Sum %04x, reference %04x", n, off, got, want)
			}
		}
	}
	// All ones must not overflow the accumulator.
	ones := make([]byte, 65536)
	for i := range ones {
		ones[i] = 0xff
	}
	if got := Sum(ones, 0xffff); got != 0xffff {
		t.Errorf("all ones: %04x", got)
	}
}

func TestPseudoSums(t *testing.T) {
	src, dst := [4]byte{10, 1, 2, 3}, [4]byte{192, 0, 2, 200}
	ph := append(append(append([]byte{}, src[:]...), dst[:]...), 0, ProtoTCP, 0x05, 0xdc)
	if got, want := PseudoSum4(src, dst, ProtoTCP, 1500), refSum(ph, 0); got != want {
		t.Errorf("PseudoSum4 %04x, want %04x", got, want)
	}
	ph6 := append(append(append([]byte{}, ip6A[:]...), ip6B[:]...), 0, 1, 0, 4, 0, 0, 0, ProtoUDP)
	if got, want := PseudoSum6(ip6A, ip6B, ProtoUDP, 0x10004), refSum(ph6, 0); got != want {
		t.Errorf("PseudoSum6 %04x, want %04x", got, want)
	}
}

// TestChecksumUpdateMatchesRecompute changes random fields of random data
// and checks RFC 1624 updates against a full recompute.
func TestChecksumUpdateMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 64)
	for i := 0; i < 100000; i++ {
		for j := range b {
			b[j] = uint8(r.Uint32())
		}
		if i%7 == 0 { // make zero sums and all-ones fields likely too
			clear(b[:32])
		}
		c := Checksum(b, 0)
		off := 2 * r.IntN(24)
		var got uint16
		switch i % 3 {
		case 0:
			var nw [2]byte
			be.PutUint16(nw[:], uint16(r.Uint32()))
			got = ChecksumUpdate16(c, be.Uint16(b[off:]), be.Uint16(nw[:]))
			copy(b[off:], nw[:])
		case 1:
			var old, nw [4]byte
			copy(old[:], b[off:])
			be.PutUint32(nw[:], r.Uint32())
			got = ChecksumUpdate32(c, old, nw)
			copy(b[off:], nw[:])
		case 2:
			var old, nw [16]byte
			copy(old[:], b[off:])
			for j := range nw {
				nw[j] = uint8(r.Uint32())
			}
			got = ChecksumUpdate128(c, old, nw)
			copy(b[off:], nw[:])
		}
		want := Checksum(b, 0)
		if got != want && !(want == 0 && got == 0xffff) {
			t.Fatalf("iteration %d: update %04x, recompute %04x", i, got, want)
		}
	}
}
