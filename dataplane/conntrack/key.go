package conntrack

import (
	"encoding/binary"
	"math/bits"
)

// Address families carried in Key.Family.
const (
	FamilyIPv4 = 4
	FamilyIPv6 = 6
)

// IP protocol numbers the table knows a state machine for. Any other protocol
// is tracked with the generic pseudo-state.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// Key is a flow's 5-tuple plus address family, packed without gaps or
// pointers (40 bytes) so it is comparable, hashable and cheap to copy.
//
// IPv4 addresses sit in the first 4 bytes of Src and Dst and the other 12
// bytes are zero; MakeKey also accepts v4-mapped IPv6 (::ffff:a.b.c.d) for
// family 4 and normalises it. For ICMP echo, SrcPort carries the identifier
// of a request and DstPort is 0; a reply has SrcPort 0 and DstPort the
// identifier (MakeICMPKey does this), so the reply is the swap of the request.
//
// A packet of either direction of a connection builds its Key from its own
// header: original direction (client to server) and reply direction both
// find the same entry, Lookup says which direction matched.
type Key struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
	Family           uint8
	_                [2]byte
}

// MakeKey builds a Key from parsed header fields. family is FamilyIPv4 or
// FamilyIPv6; see Key for the IPv4 layout.
func MakeKey(family, proto uint8, src, dst [16]byte, sport, dport uint16) Key {
	if family == FamilyIPv4 {
		src = v4(src)
		dst = v4(dst)
	}
	return Key{Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Proto: proto, Family: family}
}

// MakeICMPKey builds the Key of an ICMP or ICMPv6 echo request (reply false)
// or echo reply (reply true) with the given identifier.
func MakeICMPKey(family, proto uint8, src, dst [16]byte, id uint16, reply bool) Key {
	if reply {
		return MakeKey(family, proto, src, dst, 0, id)
	}
	return MakeKey(family, proto, src, dst, id, 0)
}

// Reverse returns the key of the same flow seen from the other direction
// (without NAT).
func (k Key) Reverse() Key {
	k.Src, k.Dst = k.Dst, k.Src
	k.SrcPort, k.DstPort = k.DstPort, k.SrcPort
	return k
}

func v4(a [16]byte) [16]byte {
	mapped := a[10] == 0xff && a[11] == 0xff
	for i := 0; i < 10 && mapped; i++ {
		mapped = a[i] == 0
	}
	var out [16]byte
	if mapped {
		copy(out[:4], a[12:16])
	} else {
		copy(out[:4], a[:4])
	}
	return out
}

// kwords is a Key as the five 64-bit words an entry stores.
type kwords [5]uint64

// fromKey sets w to k's words.
//
// The hot paths fill a kwords in place, through a pointer: never
// kw := k.words() returning the array, and never a Key passed by value
// into a call that is not inlined. The compiler copies a 40-byte array
// or struct with overlapping 16-byte moves, and a load the store buffer
// cannot forward from one earlier store waits until the stores retire,
// which is behind the previous lookup's cache misses: consecutive
// lookups then ran one after the other instead of overlapping
// (docs/performance.md, "Store forwarding").
func (w *kwords) fromKey(k *Key) {
	w[0] = binary.LittleEndian.Uint64(k.Src[0:8])
	w[1] = binary.LittleEndian.Uint64(k.Src[8:16])
	w[2] = binary.LittleEndian.Uint64(k.Dst[0:8])
	w[3] = binary.LittleEndian.Uint64(k.Dst[8:16])
	w[4] = packTail(k.SrcPort, k.DstPort, k.Proto, k.Family)
}

func packTail(sport, dport uint16, proto, family uint8) uint64 {
	return uint64(sport) | uint64(dport)<<16 | uint64(proto)<<32 | uint64(family)<<40
}

func (w *kwords) key() Key {
	var k Key
	binary.LittleEndian.PutUint64(k.Src[0:8], w[0])
	binary.LittleEndian.PutUint64(k.Src[8:16], w[1])
	binary.LittleEndian.PutUint64(k.Dst[0:8], w[2])
	binary.LittleEndian.PutUint64(k.Dst[8:16], w[3])
	k.SrcPort = uint16(w[4])
	k.DstPort = uint16(w[4] >> 16)
	k.Proto = uint8(w[4] >> 32)
	k.Family = uint8(w[4] >> 40)
	return k
}

// swappedTail returns the last word of the reverse key: the ports swapped.
func (w *kwords) swappedTail() uint64 {
	t := w[4]
	return t&^0xffffffff | (t&0xffff)<<16 | (t>>16)&0xffff
}

// reverseOf reports whether w is the reverse key of o.
func (w *kwords) reverseOf(o *kwords) bool {
	return w[0] == o[2] && w[1] == o[3] && w[2] == o[0] && w[3] == o[1] && w[4] == o.swappedTail()
}

func (w *kwords) sport() uint16 { return uint16(w[4]) }
func (w *kwords) dport() uint16 { return uint16(w[4] >> 16) }
func (w *kwords) proto() uint8  { return uint8(w[4] >> 32) }

// hash is symmetric: a key and its reverse hash alike, so a connection
// without NAT needs one node in the index for both directions. Each endpoint
// (address, port) is mixed on its own and the two are added, which commutes.
// seed is per table (random), so remote hosts cannot aim at one bucket
// without knowing it.
func (w *kwords) hash(seed uint64) uint64 {
	t := w[4]
	a := mum(w[0]^seed, w[1]^0x9e3779b97f4a7c15^(t&0xffff)<<48)
	b := mum(w[2]^seed, w[3]^0x9e3779b97f4a7c15^(t>>16&0xffff)<<48)
	return mum(a+b^seed, t>>32^0xbf58476d1ce4e5b9)
}

// mum is the 64×64→128 multiply-fold used by wyhash.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
