package packet

// In-place rewrites for NAT and forwarding. Each helper changes the frame,
// updates every checksum that covers the changed bytes incrementally
// (RFC 1624) and keeps p in step with the frame, so several rewrites can
// follow one Decode. None allocates.
//
// Precondition for all: p came from p.Decode(frame) returning DropNone, and
// frame has not been changed since except through these helpers.
//
// Checksums touched: the IPv4 header checksum for IPv4 addresses and TTL; the
// TCP, UDP and ICMPv6 checksums for addresses (pseudo-header) and for ports or
// the ICMP identifier. A UDP checksum of 0 (none sent) stays 0 and an updated
// UDP checksum that comes out 0 is sent as 0xffff (RFC 768). On a first
// fragment the transport checksum covers the whole datagram and the
// incremental update is still exact; a later fragment has no transport
// header and only its IP header is touched. For the packet quoted by an ICMP
// error, the quoted checksums that lie inside the quote are updated and so is
// the checksum of the ICMP message that carries them.

// SetSrcAddr rewrites the IP source address; a is v4-mapped for an IPv4
// packet (see Addr4). It reports false, and changes nothing, when p is not
// an IP packet or a is of the other family.
func SetSrcAddr(frame []byte, p *Parsed, a [16]byte) bool {
	return rewriteAddr16(frame, &p.Headers, &a, false, 0)
}

// SetDstAddr rewrites the IP destination address, like SetSrcAddr.
func SetDstAddr(frame []byte, p *Parsed, a [16]byte) bool {
	return rewriteAddr16(frame, &p.Headers, &a, true, 0)
}

// SetIPv4Src rewrites the source address of an IPv4 packet, like SetSrcAddr.
func SetIPv4Src(frame []byte, p *Parsed, a [4]byte) bool {
	return p.Family == 4 && rewriteAddr(frame, &p.Headers, a[:], false, 0)
}

// SetIPv4Dst rewrites the destination address of an IPv4 packet, like SetSrcAddr.
func SetIPv4Dst(frame []byte, p *Parsed, a [4]byte) bool {
	return p.Family == 4 && rewriteAddr(frame, &p.Headers, a[:], true, 0)
}

// SetSrcPort rewrites the TCP or UDP source port. It reports false, and
// changes nothing, when the packet has no TCP or UDP header.
func SetSrcPort(frame []byte, p *Parsed, port uint16) bool {
	return rewritePort(frame, &p.Headers, port, false, 0)
}

// SetDstPort rewrites the TCP or UDP destination port, like SetSrcPort.
func SetDstPort(frame []byte, p *Parsed, port uint16) bool {
	return rewritePort(frame, &p.Headers, port, true, 0)
}

// SetICMPID rewrites the identifier of an ICMP or ICMPv6 query (echo,
// timestamp, ...), the NAT "port" of an ICMP flow. It reports false, and
// changes nothing, for any other packet.
func SetICMPID(frame []byte, p *Parsed, id uint16) bool {
	return rewriteICMPID(frame, &p.Headers, id, 0)
}

// SetInnerSrcAddr rewrites the source address of the packet quoted by an
// ICMP error. It reports false, and changes nothing, when p is not an ICMP
// error or a is of the other family.
func SetInnerSrcAddr(frame []byte, p *Parsed, a [16]byte) bool {
	return rewriteAddr16(frame, &p.Inner, &a, false, int(p.L4Off)+2)
}

// SetInnerDstAddr rewrites the destination address of the quoted packet,
// like SetInnerSrcAddr.
func SetInnerDstAddr(frame []byte, p *Parsed, a [16]byte) bool {
	return rewriteAddr16(frame, &p.Inner, &a, true, int(p.L4Off)+2)
}

// SetInnerSrcPort rewrites the TCP or UDP source port of the quoted packet.
func SetInnerSrcPort(frame []byte, p *Parsed, port uint16) bool {
	return rewritePort(frame, &p.Inner, port, false, int(p.L4Off)+2)
}

// SetInnerDstPort rewrites the TCP or UDP destination port of the quoted packet.
func SetInnerDstPort(frame []byte, p *Parsed, port uint16) bool {
	return rewritePort(frame, &p.Inner, port, true, int(p.L4Off)+2)
}

// SetInnerICMPID rewrites the identifier of an ICMP query quoted by an ICMP
// error (a ping whose TTL ran out).
func SetInnerICMPID(frame []byte, p *Parsed, id uint16) bool {
	return rewriteICMPID(frame, &p.Inner, id, int(p.L4Off)+2)
}

// DecrementTTL lowers the IPv4 TTL or IPv6 hop limit by one, updating the
// IPv4 header checksum. It reports false, and changes nothing, when the TTL
// is 0 or 1: the packet must not be forwarded (send ICMP time exceeded).
func DecrementTTL(frame []byte, p *Parsed) bool {
	if p.TTL <= 1 {
		return false
	}
	off := int(p.L3Off)
	if p.Family == 4 {
		// TTL is the high byte of the word at offset 8, beside the protocol.
		old := be.Uint16(frame[off+8:])
		frame[off+8]--
		c := off + 10
		be.PutUint16(frame[c:], ChecksumUpdate16(be.Uint16(frame[c:]), old, old-0x0100))
	} else {
		frame[off+7]--
	}
	p.TTL--
	return true
}

// l4CsumOff returns the offset of the transport checksum of h that covers
// the field being changed, or -1 when there is none in the frame. pseudo
// asks for one that covers the IP pseudo-header (an address change).
func l4CsumOff(h *Headers, pseudo bool) int {
	if h.Flags&FlagL4 == 0 {
		return -1
	}
	var off int
	switch h.Proto {
	case ProtoTCP:
		off = int(h.L4Off) + 16
	case ProtoUDP:
		off = int(h.L4Off) + 6
	case ProtoICMPv6:
		off = int(h.L4Off) + 2
	case ProtoICMP:
		if pseudo {
			return -1 // ICMPv4 has no pseudo-header
		}
		off = int(h.L4Off) + 2
	default:
		return -1
	}
	if off+2 > int(h.End) {
		return -1 // quoted packet cut before its checksum
	}
	return off
}

// adjust applies the change term d to the checksum at frame[off:] and
// returns the change term of that checksum field itself, for an enclosing
// ICMP checksum. UDP keeps 0 as "no checksum" and never sends a computed 0.
func adjust(frame []byte, off int, d uint64, udp bool) uint64 {
	old := be.Uint16(frame[off:])
	if udp && old == 0 {
		return 0
	}
	c := applyDiff(old, d)
	if udp && c == 0 {
		c = 0xffff
	}
	be.PutUint16(frame[off:], c)
	return uint64(^old) + uint64(c)
}

// rewriteAddr16 is rewriteAddr for a 16-byte address: a Headers with
// Family 0 (no IP packet, no quote) or an address of the other family is
// left alone.
func rewriteAddr16(frame []byte, h *Headers, a *[16]byte, dst bool, encl int) bool {
	switch {
	case h.Family == 0 || Is4(*a) != (h.Family == 4):
		return false
	case h.Family == 4:
		return rewriteAddr(frame, h, a[12:], dst, encl)
	}
	return rewriteAddr(frame, h, a[:], dst, encl)
}

// rewriteAddr writes a, 4 bytes for IPv4 or 16 for IPv6 as h.Family says,
// over the source (or destination) address of h and fixes the checksums;
// encl, when not 0, is the offset of the checksum of the ICMP error that
// quotes h.
func rewriteAddr(frame []byte, h *Headers, a []byte, dst bool, encl int) bool {
	off, n := int(h.L3Off)+12, 4
	if h.Family == 6 {
		off, n = int(h.L3Off)+8, 16
	}
	if dst {
		off += n
	}
	field := frame[off : off+n]
	d := diffBytes(field, a)
	copy(field, a)
	if dst {
		copy(h.Dst[16-n:], a)
	} else {
		copy(h.Src[16-n:], a)
	}
	total := d
	if h.Family == 4 {
		total += adjust(frame, int(h.L3Off)+10, d, false)
	}
	if c := l4CsumOff(h, true); c >= 0 {
		total += adjust(frame, c, d, h.Proto == ProtoUDP)
	}
	if encl != 0 {
		adjust(frame, encl, total, false)
	}
	return true
}

// rewritePort writes port over the source (or destination) port of h.
func rewritePort(frame []byte, h *Headers, port uint16, dst bool, encl int) bool {
	if h.Flags&FlagL4 == 0 || (h.Proto != ProtoTCP && h.Proto != ProtoUDP) {
		return false
	}
	off := int(h.L4Off)
	if dst {
		off += 2
		h.DstPort = port
	} else {
		h.SrcPort = port
	}
	return rewrite16(frame, h, off, port, encl)
}

// rewriteICMPID writes id over the identifier of the ICMP query h.
func rewriteICMPID(frame []byte, h *Headers, id uint16, encl int) bool {
	if h.Flags&FlagL4 == 0 || (h.Proto != ProtoICMP && h.Proto != ProtoICMPv6) || !icmpIsQuery(h.Family, h.ICMPType) {
		return false
	}
	h.ICMPID = id
	return rewrite16(frame, h, int(h.L4Off)+4, id, encl)
}

// rewrite16 writes v at frame[off:], a transport header word of h, and fixes
// the transport checksum and the enclosing one.
func rewrite16(frame []byte, h *Headers, off int, v uint16, encl int) bool {
	old := be.Uint16(frame[off:])
	be.PutUint16(frame[off:], v)
	d := uint64(^old) + uint64(v)
	total := d
	if c := l4CsumOff(h, false); c >= 0 {
		total += adjust(frame, c, d, h.Proto == ProtoUDP)
	}
	if encl != 0 {
		adjust(frame, encl, total, false)
	}
	return true
}
