package packet

import (
	"encoding/hex"
	"strings"
	"testing"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	ip4A = Addr4([4]byte{10, 0, 0, 1})
	ip4B = Addr4([4]byte{192, 0, 2, 7})
	ip6A = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	ip6B = [16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
)

// build returns the frame s describes or fails the test.
func build(t testing.TB, s Spec) []byte {
	t.Helper()
	buf := make([]byte, 65536)
	n := Build(buf, &s)
	if n == 0 {
		t.Fatalf("Build(%+v) = 0", s)
	}
	return buf[:n]
}

// decode decodes frame and fails the test unless it is well formed.
func decode(t testing.TB, frame []byte) *Parsed {
	t.Helper()
	var p Parsed
	if r := p.Decode(frame); r != DropNone {
		t.Fatalf("Decode: %v, want none", r)
	}
	return &p
}

// unhex turns "45 00 ..." (spaces and newlines ignored) into bytes.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refSum is RFC 1071's reference loop, 16 bits at a time, for cross-checks.
func refSum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// fixIPv4 recomputes the IPv4 header checksum at frame[l3:] after a test
// changed the header by hand.
func fixIPv4(frame []byte, l3 int) {
	hl := int(frame[l3]&0x0f) * 4
	be.PutUint16(frame[l3+10:], 0)
	be.PutUint16(frame[l3+10:], ^refSum(frame[l3:l3+hl], 0))
}

// ext is one IPv6 extension header for withExt: its type and its body
// (length a multiple of 8, AH a multiple of 4; bytes 0 and 1 are filled in).
type ext struct {
	typ  uint8
	body []byte
}

// withExt inserts IPv6 extension headers between the IPv6 header and the
// transport header of the untagged IPv6 frame f.
func withExt(f []byte, exts ...ext) []byte {
	const l3 = ethHeaderLen
	out := append([]byte{}, f[:l3+ipv6HeaderLen]...)
	next := f[l3+6]
	total := 0
	for i := len(exts) - 1; i >= 0; i-- {
		e := exts[i]
		b := append([]byte{}, e.body...)
		b[0] = next
		if e.typ == ProtoAH {
			b[1] = uint8(len(b)/4 - 2)
		} else if e.typ != ProtoFragment {
			b[1] = uint8(len(b)/8 - 1)
		}
		exts[i].body = b
		next = e.typ
		total += len(b)
	}
	out[l3+6] = next
	be.PutUint16(out[l3+4:], be.Uint16(f[l3+4:])+uint16(total))
	for _, e := range exts {
		out = append(out, e.body...)
	}
	return append(out, f[l3+ipv6HeaderLen:]...)
}
