package packet

// Spec describes a frame for Build: Ethernet (optionally one 802.1Q tag),
// IPv4 or IPv6 without options or extension headers, and a TCP, UDP, ICMP or
// ICMPv6 header, or a raw IP payload for any other protocol.
type Spec struct {
	DstMAC, SrcMAC [6]byte
	VLANID         uint16 // adds an 802.1Q tag with this VID when not 0

	Src, Dst     [16]byte // both v4-mapped (an IPv4 frame) or both not (IPv6)
	Proto        uint8    // ProtoTCP, ProtoUDP, ProtoICMP (IPv4 only), ProtoICMPv6 (IPv6 only) or any other: Payload is then the whole IP payload
	TTL          uint8    // TTL or hop limit; 0 means 64
	TOS          uint8    // IPv4 TOS or IPv6 traffic class
	IPID         uint16   // IPv4 identification
	DontFragment bool     // IPv4 DF

	SrcPort, DstPort uint16 // TCP or UDP
	Seq, Ack         uint32 // TCP
	TCPFlags         uint8  // TCP
	Window           uint16 // TCP
	TCPOptions       []byte // TCP, padded by the caller to a multiple of 4, at most 40 bytes

	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16 // ICMP bytes 4-5 and 6-7: query identifier and sequence, or an error's rest-of-header

	// Payload is copied after the headers. When it is nil, the PayloadLen
	// bytes already at buf[HeaderLen(s):] are the payload: a sender can
	// write its message in place and then add the headers (zero copy).
	Payload    []byte
	PayloadLen int
}

// l3Len returns the IP header length for s, or 0 when Src and Dst disagree.
func (s *Spec) l3Len() int {
	is4 := Is4(s.Src)
	if is4 != Is4(s.Dst) {
		return 0
	}
	if is4 {
		return ipv4MinHeaderLen
	}
	return ipv6HeaderLen
}

// l4Len returns the transport header length for s, or -1 when s is invalid.
func (s *Spec) l4Len() int {
	switch s.Proto {
	case ProtoTCP:
		if len(s.TCPOptions)%4 != 0 || len(s.TCPOptions) > tcpMaxHeaderLen-tcpMinHeaderLen {
			return -1
		}
		return tcpMinHeaderLen + len(s.TCPOptions)
	case ProtoUDP:
		return udpHeaderLen
	case ProtoICMP, ProtoICMPv6:
		if (s.Proto == ProtoICMP) != Is4(s.Src) {
			return -1
		}
		return icmpHeaderLen
	}
	return 0
}

// HeaderLen returns the bytes Build writes before the payload, or 0 when s
// is invalid (mixed families, bad TCP options, ICMP of the wrong family).
func HeaderLen(s *Spec) int {
	l3, l4 := s.l3Len(), s.l4Len()
	if l3 == 0 || l4 < 0 {
		return 0
	}
	n := ethHeaderLen + l3 + l4
	if s.VLANID != 0 {
		n += vlanTagLen
	}
	return n
}

// Build writes the frame s describes into buf with every length and
// checksum filled in, and returns its length. It returns 0 when s is invalid,
// the frame does not fit in buf or the frame would exceed 65535 bytes.
// It does not allocate. Frames shorter than 60 bytes are not padded.
func Build(buf []byte, s *Spec) int {
	hl := HeaderLen(s)
	if hl == 0 {
		return 0
	}
	plen := s.PayloadLen
	if s.Payload != nil {
		plen = len(s.Payload)
	}
	n := hl + plen
	if plen < 0 || n > len(buf) || n > maxFrameLen { // the IP packet then fits its length field too
		return 0
	}
	l3len := s.l3Len()
	ipLen := l3len + s.l4Len() + plen
	if s.Payload != nil {
		copy(buf[hl:n], s.Payload)
	}
	et := uint16(EtherTypeIPv6)
	if l3len == ipv4MinHeaderLen {
		et = EtherTypeIPv4
	}
	off := putEthernet(buf, s.DstMAC, s.SrcMAC, s.VLANID, et)
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64
	}
	h := Headers{Src: s.Src, Dst: s.Dst, Family: 6, Proto: s.Proto, L3Off: uint16(off), End: uint16(n)}
	ip := buf[off:]
	if l3len == ipv4MinHeaderLen {
		h.Family = 4
		ip[0] = 0x45
		ip[1] = s.TOS
		be.PutUint16(ip[2:], uint16(ipLen))
		be.PutUint16(ip[4:], s.IPID)
		var fo uint16
		if s.DontFragment {
			fo = 0x4000
		}
		be.PutUint16(ip[6:], fo)
		ip[8] = ttl
		ip[9] = s.Proto
		be.PutUint16(ip[10:], 0)
		copy(ip[12:16], s.Src[12:])
		copy(ip[16:20], s.Dst[12:])
	} else {
		be.PutUint32(ip[0:], 6<<28|uint32(s.TOS)<<20)
		be.PutUint16(ip[4:], uint16(ipLen-ipv6HeaderLen))
		ip[6] = s.Proto
		ip[7] = ttl
		copy(ip[8:24], s.Src[:])
		copy(ip[24:40], s.Dst[:])
	}
	off += l3len
	h.L4Off = uint16(off)
	t := buf[off:]
	switch s.Proto {
	case ProtoTCP:
		tl := tcpMinHeaderLen + len(s.TCPOptions)
		be.PutUint16(t[0:], s.SrcPort)
		be.PutUint16(t[2:], s.DstPort)
		be.PutUint32(t[4:], s.Seq)
		be.PutUint32(t[8:], s.Ack)
		t[12] = uint8(tl/4) << 4
		t[13] = s.TCPFlags
		be.PutUint16(t[14:], s.Window)
		be.PutUint32(t[16:], 0) // checksum, urgent pointer
		copy(t[tcpMinHeaderLen:tl], s.TCPOptions)
		h.PayloadOff = uint16(off + tl)
	case ProtoUDP:
		h.UDPLen = uint16(udpHeaderLen + plen)
		be.PutUint16(t[0:], s.SrcPort)
		be.PutUint16(t[2:], s.DstPort)
		be.PutUint16(t[4:], h.UDPLen)
		be.PutUint16(t[6:], 0)
		h.PayloadOff = uint16(off + udpHeaderLen)
	case ProtoICMP, ProtoICMPv6:
		t[0] = s.ICMPType
		t[1] = s.ICMPCode
		be.PutUint16(t[2:], 0)
		be.PutUint16(t[4:], s.ICMPID)
		be.PutUint16(t[6:], s.ICMPSeq)
		h.PayloadOff = uint16(off + icmpHeaderLen)
	}
	if h.PayloadOff != 0 {
		h.Flags = FlagL4
	}
	updateChecksums(buf, &h, false)
	return n
}

// putEthernet writes an Ethernet header, with an 802.1Q tag when vlan is not
// 0, and returns its length. buf must hold 18 bytes.
func putEthernet(buf []byte, dst, src [6]byte, vlan, etherType uint16) int {
	copy(buf[0:6], dst[:])
	copy(buf[6:12], src[:])
	off := 12
	if vlan != 0 {
		be.PutUint16(buf[off:], EtherTypeVLAN)
		be.PutUint16(buf[off+2:], vlan&0x0fff)
		off += vlanTagLen
	}
	be.PutUint16(buf[off:], etherType)
	return off + 2
}
