package packet

// Decode parses frame, an Ethernet frame without FCS, into p. Every field of
// p is reset first. It never allocates, never retains frame and never panics:
// a malformed frame gives a DropReason other than DropNone, and p then holds
// whatever was decoded before the fault. ARP and non-IP frames are not drops:
// Class tells the engine to hand them to the kernel.
//
// What Decode checks: every length against the frame before reading; VLAN
// depth; the IPv4 version, IHL, total length and header checksum; the IPv6
// payload length and extension header chain; fragment offsets; TCP data
// offset; UDP length; and, for ICMP errors, the quoted IP header and 8 bytes
// of its transport header. It does not verify transport checksums (see
// ChecksumsValid) nor judge addresses: that is policy.
func (p *Parsed) Decode(frame []byte) DropReason {
	*p = Parsed{}
	if len(frame) > maxFrameLen {
		return DropTooLong
	}
	if len(frame) < ethHeaderLen {
		return DropTooShort
	}
	copy(p.DstMAC[:], frame[0:6])
	copy(p.SrcMAC[:], frame[6:12])
	et := be.Uint16(frame[12:14])
	off := ethHeaderLen
	for et == EtherTypeVLAN || et == EtherTypeQinQ {
		if p.VLANTags == maxVLANTags {
			return DropVLANDepth
		}
		if len(frame)-off < vlanTagLen {
			return DropTooShort
		}
		if p.VLANTags == 0 {
			p.VLANID = be.Uint16(frame[off:]) & 0x0fff
		}
		p.VLANTags++
		et = be.Uint16(frame[off+2:])
		off += vlanTagLen
	}
	p.EtherType = et
	switch et {
	case EtherTypeIPv4:
		p.Class = ClassIPv4
		if r := decodeIPv4(&p.Headers, frame, off, false); r != DropNone {
			return r
		}
	case EtherTypeIPv6:
		p.Class = ClassIPv6
		if r := decodeIPv6(&p.Headers, frame, off, false); r != DropNone {
			return r
		}
	case EtherTypeARP:
		return p.decodeARP(frame, off)
	default:
		p.Class = ClassOther
		return DropNone
	}
	if p.Flags&FlagICMPError == 0 {
		return DropNone
	}
	return p.decodeInner(frame)
}

// decodeInner parses the packet quoted by the ICMP error in p.Headers.
func (p *Parsed) decodeInner(frame []byte) DropReason {
	quote := frame[:p.End]
	off := int(p.L4Off) + icmpHeaderLen
	var r DropReason
	if p.Family == 4 {
		r = decodeIPv4(&p.Inner, quote, off, true)
	} else {
		r = decodeIPv6(&p.Inner, quote, off, true)
	}
	if r != DropNone {
		return DropICMPInner
	}
	return DropNone
}

func (p *Parsed) decodeARP(frame []byte, off int) DropReason {
	p.L3Off = uint16(off)
	b := frame[off:]
	if len(b) < arpLen {
		p.Class = ClassARP
		return DropARPTruncated
	}
	// Hardware type Ethernet (1), protocol IPv4, 6-byte and 4-byte addresses.
	if be.Uint16(b[0:]) != 1 || be.Uint16(b[2:]) != EtherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		p.Class = ClassOther
		return DropNone
	}
	p.Class = ClassARP
	p.ARP.Op = be.Uint16(b[6:])
	copy(p.ARP.SenderHW[:], b[8:14])
	copy(p.ARP.SenderIP[:], b[14:18])
	copy(p.ARP.TargetHW[:], b[18:24])
	copy(p.ARP.TargetIP[:], b[24:28])
	return DropNone
}

// decodeIPv4 parses the IPv4 packet at b[off:] into h. For a packet quoted by
// an ICMP error (inner), b ends where the quote ends, the packet may be cut
// short and its checksum is not verified.
func decodeIPv4(h *Headers, b []byte, off int, inner bool) DropReason {
	if len(b)-off < ipv4MinHeaderLen {
		return DropTooShort
	}
	ip := b[off:]
	if ip[0]>>4 != 4 {
		return DropIPVersion
	}
	hl := int(ip[0]&0x0f) * 4
	if hl < ipv4MinHeaderLen || hl > len(ip) {
		return DropIPv4IHL
	}
	tot := int(be.Uint16(ip[2:]))
	if tot < hl {
		return DropIPv4TotalLength
	}
	if tot > len(ip) {
		if !inner {
			return DropIPv4TotalLength
		}
		tot = len(ip)
		h.Flags |= FlagTruncated
	}
	if !inner && headerSum(ip[:hl]) != 0xffff {
		return DropIPv4Checksum
	}
	h.Family = 4
	h.TOS = ip[1]
	h.FragID = uint32(be.Uint16(ip[4:]))
	h.TTL = ip[8]
	h.Proto = ip[9]
	h.Src[10], h.Src[11] = 0xff, 0xff
	h.Dst[10], h.Dst[11] = 0xff, 0xff
	copy(h.Src[12:], ip[12:16])
	copy(h.Dst[12:], ip[16:20])
	h.L3Off = uint16(off)
	h.L4Off = uint16(off + hl)
	h.End = uint16(off + tot)
	if hl > ipv4MinHeaderLen {
		h.Flags |= FlagIPOptions
	}
	fo := be.Uint16(ip[6:])
	if fo&0x4000 != 0 {
		h.Flags |= FlagDontFragment
	}
	fragOff := int(fo&0x1fff) * 8
	if fo&0x2000 != 0 || fragOff != 0 {
		h.Flags |= FlagFragment
		if fo&0x2000 != 0 {
			h.Flags |= FlagMoreFragments
		}
		if fragOff+tot > maxIPLen {
			return DropFragmentOverflow
		}
		if fragOff != 0 {
			h.Flags |= FlagLaterFragment
			h.FragOff = uint16(fragOff)
			if h.Proto == ProtoTCP && fragOff == 8 {
				return DropTinyFragment
			}
			return DropNone
		}
	}
	return decodeL4(h, b[:off+tot], off+hl, inner)
}

// decodeIPv6 parses the IPv6 packet at b[off:] into h, walking extension
// headers to the transport header. See decodeIPv4 for inner.
func decodeIPv6(h *Headers, b []byte, off int, inner bool) DropReason {
	if len(b)-off < ipv6HeaderLen {
		return DropTooShort
	}
	ip := b[off:]
	if ip[0]>>4 != 6 {
		return DropIPVersion
	}
	end := off + ipv6HeaderLen + int(be.Uint16(ip[4:]))
	if end > len(b) {
		if !inner {
			return DropIPv6PayloadLength
		}
		end = len(b)
		h.Flags |= FlagTruncated
	}
	h.Family = 6
	h.TOS = ip[0]<<4 | ip[1]>>4
	h.TTL = ip[7]
	copy(h.Src[:], ip[8:24])
	copy(h.Dst[:], ip[24:40])
	if Is4(h.Src) || Is4(h.Dst) {
		return DropIPv6Mapped // would be taken for IPv4 in a flow key
	}
	h.L3Off = uint16(off)
	h.End = uint16(end)
	nh := ip[6]
	pos := off + ipv6HeaderLen
	for n := 0; ; n++ {
		var l int
		switch nh {
		case ProtoHopByHop, ProtoRouting, ProtoDestOpts, ProtoAH:
			if (nh == ProtoHopByHop && n != 0) || end-pos < ipv6ExtMinLen {
				return DropIPv6ExtHeader
			}
			if nh == ProtoAH {
				l = (int(b[pos+1]) + 2) * 4 // RFC 4302: length in 4-octet units, minus 2
			} else {
				l = (int(b[pos+1]) + 1) * 8 // RFC 8200: length in 8-octet units, not counting the first 8
			}
		case ProtoFragment:
			if h.Flags&FlagFragment != 0 || end-pos < ipv6FragHdrLen {
				return DropIPv6ExtHeader
			}
			l = ipv6FragHdrLen
			fo := be.Uint16(b[pos+2:])
			h.FragID = be.Uint32(b[pos+4:])
			h.Flags |= FlagFragment
			if fo&1 != 0 {
				h.Flags |= FlagMoreFragments
			}
			if fragOff := int(fo &^ 7); fragOff != 0 {
				// The rest is fragment data: stop at the next header named here.
				if fragOff+(end-pos-l) > maxIPLen {
					return DropFragmentOverflow
				}
				h.Flags |= FlagLaterFragment | FlagIPOptions
				h.FragOff = uint16(fragOff)
				h.Proto = b[pos]
				h.L4Off = uint16(pos + l)
				return DropNone
			}
		default:
			h.Proto = nh
			h.L4Off = uint16(pos)
			if nh == ProtoNoNextHeader {
				return DropNone
			}
			return decodeL4(h, b[:end], pos, inner)
		}
		if n == maxIPv6ExtHdrs || end-pos < l {
			return DropIPv6ExtHeader
		}
		h.Flags |= FlagIPOptions
		nh = b[pos]
		pos += l
	}
}

// decodeL4 parses the transport header at b[off:]; b ends with the IP packet.
// In an ICMP quote (inner) only the first 8 bytes are promised: ports and
// the TCP sequence number, or the ICMP header.
func decodeL4(h *Headers, b []byte, off int, inner bool) DropReason {
	n := len(b) - off
	t := b[off:]
	switch h.Proto {
	case ProtoTCP:
		if n < l4QuoteMin || (!inner && n < tcpMinHeaderLen) {
			return DropTCPTooShort
		}
		h.SrcPort = be.Uint16(t[0:])
		h.DstPort = be.Uint16(t[2:])
		h.Seq = be.Uint32(t[4:])
		if n >= tcpMinHeaderLen {
			doff := int(t[12]>>4) * 4
			if !inner && (doff < tcpMinHeaderLen || doff > n) {
				return DropTCPOffset
			}
			h.Ack = be.Uint32(t[8:])
			h.TCPFlags = t[13]
			h.Window = be.Uint16(t[14:])
			if !inner {
				h.PayloadOff = uint16(off + doff)
			}
		}
	case ProtoUDP:
		if n < udpHeaderLen {
			return DropUDPTooShort
		}
		h.SrcPort = be.Uint16(t[0:])
		h.DstPort = be.Uint16(t[2:])
		h.UDPLen = be.Uint16(t[4:])
		if !inner {
			// A first fragment holds only part of the datagram the length counts.
			if h.UDPLen < udpHeaderLen || (h.Flags&FlagMoreFragments == 0 && int(h.UDPLen) > n) {
				return DropUDPLength
			}
			h.PayloadOff = uint16(off + udpHeaderLen)
		}
	case ProtoICMP, ProtoICMPv6:
		if (h.Proto == ProtoICMP) != (h.Family == 4) {
			return DropNone // ICMP in IPv6 or ICMPv6 in IPv4: an unknown protocol here
		}
		if n < icmpHeaderLen {
			return DropICMPTooShort
		}
		h.ICMPType = t[0]
		h.ICMPCode = t[1]
		if icmpIsQuery(h.Family, h.ICMPType) {
			h.ICMPID = be.Uint16(t[4:])
		}
		if !inner {
			h.PayloadOff = uint16(off + icmpHeaderLen)
			if icmpIsError(h.Family, h.ICMPType) {
				h.Flags |= FlagICMPError
			}
		}
	default:
		return DropNone
	}
	h.Flags |= FlagL4
	return DropNone
}
