package packet

import "math/bits"

// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Sums are carried in the ones'-complement domain as uint16: Sum returns the
// folded ones'-complement sum of 16-bit big-endian words, Checksum its
// complement, the value that goes on the wire. A region whose checksum field
// is correct sums to 0xffff.

// Sum returns the ones'-complement sum of b as big-endian 16-bit words (an
// odd last byte is padded with zero), added to initial. It does not allocate.
func Sum(b []byte, initial uint16) uint16 {
	return fold(sum64(b, uint64(initial)))
}

// Checksum returns the Internet checksum of b with initial as a partial sum
// (for example PseudoSum4): the complement of Sum.
func Checksum(b []byte, initial uint16) uint16 {
	return ^Sum(b, initial)
}

// sum64 adds b to acc as 64-bit big-endian words with end-around carry,
// which folds to the same ones'-complement sum as 16-bit words.
func sum64(b []byte, acc uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, be.Uint64(b[0:]), c)
		acc, c = bits.Add64(acc, be.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, be.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, be.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, be.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(be.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(be.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, c)
	}
	acc, c = bits.Add64(acc, 0, c) // end-around carry; cannot carry again
	return acc + c
}

// headerSum is Sum for an IPv4 header (a multiple of 4 bytes, at most 60):
// 32-bit words cannot overflow the accumulator, so no carries to chase.
func headerSum(h []byte) uint16 {
	var s uint64
	for ; len(h) >= 4; h = h[4:] {
		s += uint64(be.Uint32(h))
	}
	return fold(s)
}

// fold reduces a 64-bit ones'-complement sum to 16 bits.
func fold(s uint64) uint16 {
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// PseudoSum4 returns the sum of the IPv4 pseudo-header (RFC 793, RFC 768)
// for a transport segment of length bytes.
func PseudoSum4(src, dst [4]byte, proto uint8, length uint16) uint16 {
	s := uint64(be.Uint32(src[:])) + uint64(be.Uint32(dst[:])) + uint64(proto) + uint64(length)
	return fold(s)
}

// PseudoSum6 returns the sum of the IPv6 pseudo-header (RFC 8200 8.1) for an
// upper-layer packet of length bytes.
func PseudoSum6(src, dst [16]byte, proto uint8, length uint32) uint16 {
	s := sum64(src[:], uint64(proto)+uint64(length))
	return fold(sum64(dst[:], s))
}

// pseudoSum returns the pseudo-header sum for h with the given L4 length.
func pseudoSum(h *Headers, length int) uint16 {
	if h.Family == 4 {
		return PseudoSum4(IPv4(h.Src), IPv4(h.Dst), h.Proto, uint16(length))
	}
	return PseudoSum6(h.Src, h.Dst, h.Proto, uint32(length))
}

// ChecksumUpdate16 returns checksum csum after a 16-bit word it covers
// changes from old to new, per RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
func ChecksumUpdate16(csum, old, new uint16) uint16 {
	return applyDiff(csum, uint64(^old)+uint64(new))
}

// ChecksumUpdate32 returns checksum csum after a 4-byte field it covers at
// an even offset (an IPv4 address) changes from old to new.
func ChecksumUpdate32(csum uint16, old, new [4]byte) uint16 {
	return applyDiff(csum, diffBytes(old[:], new[:]))
}

// ChecksumUpdate128 returns checksum csum after a 16-byte field it covers at
// an even offset (an IPv6 address) changes from old to new.
func ChecksumUpdate128(csum uint16, old, new [16]byte) uint16 {
	return applyDiff(csum, diffBytes(old[:], new[:]))
}

// diffBytes returns the RFC 1624 change term sum(~m + m') over a field of
// 4 or 16 bytes, unfolded. It works a 32-bit word at a time: complementing
// a 32-bit word complements both of its 16-bit halves, and the fold adds the
// halves back together.
func diffBytes(old, new []byte) uint64 {
	var d uint64
	for i := 0; i+3 < len(old) && i+3 < len(new); i += 4 {
		d += uint64(^be.Uint32(old[i:])) + uint64(be.Uint32(new[i:]))
	}
	return d
}

// applyDiff applies an unfolded change term d to checksum csum.
func applyDiff(csum uint16, d uint64) uint16 {
	return ^fold(uint64(^csum) + d)
}

// l4Span returns the bytes a full transport checksum of h covers and the
// offset of its checksum field, or ok false when the packet does not hold a
// whole transport segment with a checksum this package knows.
func l4Span(frame []byte, h *Headers) (start, end, csum int, ok bool) {
	if h.Flags&FlagL4 == 0 || h.Flags&FlagMoreFragments != 0 || h.Flags&FlagLaterFragment != 0 || h.PayloadOff == 0 {
		return 0, 0, 0, false
	}
	start, end = int(h.L4Off), int(h.End)
	switch h.Proto {
	case ProtoTCP:
		csum = start + 16
	case ProtoUDP:
		csum, end = start+6, start+int(h.UDPLen)
	case ProtoICMP, ProtoICMPv6:
		csum = start + 2
	default:
		return 0, 0, 0, false
	}
	return start, end, csum, end <= len(frame)
}

// l4Sum returns the sum of the transport segment frame[start:end] of h,
// including the pseudo-header where the protocol has one.
func l4Sum(frame []byte, h *Headers, start, end int) uint16 {
	var initial uint16
	if h.Proto != ProtoICMP {
		initial = pseudoSum(h, end-start)
	}
	return Sum(frame[start:end], initial)
}

// ChecksumsValid reports whether the IPv4 header checksum and the transport
// checksum of the packet p decoded from frame verify. The transport checksum
// is checked only for a whole TCP, UDP, ICMP or ICMPv6 segment (not a
// fragment); a UDP checksum of 0 means none, valid over IPv4 only. Decode
// leaves this to the caller because it reads every payload byte.
func ChecksumsValid(frame []byte, p *Parsed) bool {
	h := &p.Headers
	if h.Family == 4 {
		l3 := int(h.L3Off)
		if headerSum(frame[l3:h.L4Off]) != 0xffff {
			return false
		}
	}
	start, end, csum, ok := l4Span(frame, h)
	if !ok {
		return true
	}
	if h.Proto == ProtoUDP && be.Uint16(frame[csum:]) == 0 {
		return h.Family == 4 // RFC 768 "none"; RFC 8200 8.1 forbids it for IPv6
	}
	return l4Sum(frame, h, start, end) == 0xffff
}

// UpdateChecksums recomputes in full the IPv4 header checksum and, for a
// whole TCP, UDP, ICMP or ICMPv6 segment, the transport checksum of the
// packet p decoded from frame (a UDP-over-IPv4 checksum of 0 is kept). The
// builders use it; the forwarding path uses the incremental helpers instead.
func UpdateChecksums(frame []byte, p *Parsed) {
	updateChecksums(frame, &p.Headers, true)
}

// updateChecksums is UpdateChecksums; the builders pass keepUDPZero false to
// fill a UDP checksum they left 0.
func updateChecksums(frame []byte, h *Headers, keepUDPZero bool) {
	if h.Family == 4 {
		l3 := int(h.L3Off)
		be.PutUint16(frame[l3+10:], 0)
		be.PutUint16(frame[l3+10:], ^headerSum(frame[l3:h.L4Off]))
	}
	start, end, csum, ok := l4Span(frame, h)
	if !ok {
		return
	}
	if keepUDPZero && h.Proto == ProtoUDP && h.Family == 4 && be.Uint16(frame[csum:]) == 0 {
		return
	}
	be.PutUint16(frame[csum:], 0)
	c := ^l4Sum(frame, h, start, end)
	if c == 0 && h.Proto == ProtoUDP {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	be.PutUint16(frame[csum:], c)
}
