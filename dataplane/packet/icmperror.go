package packet

// ICMPError describes an ICMP or ICMPv6 error that the gateway sends about a
// packet it will not forward (TTL expired, no route, too big for the next
// hop, ...).
type ICMPError struct {
	DstMAC, SrcMAC [6]byte // toward the offending packet's source: usually its SrcMAC and our MAC
	VLANID         uint16  // 802.1Q tag when not 0

	Src        [16]byte // this gateway's address on the way back; same family as the offending packet
	Type, Code uint8    // e.g. ICMPTimeExceeded/0, ICMPUnreachable/ICMPCodeFragNeeded, ICMPv6PacketTooBig/0

	// Param fills the rest-of-header. ICMPv4: the next-hop MTU for
	// unreachable/fragmentation-needed (bytes 6-7), the pointer for parameter
	// problem (byte 4), ignored otherwise. ICMPv6: bytes 4-7 (the MTU for
	// packet too big, the pointer for parameter problem).
	Param uint32
	TTL   uint8 // 0 means 64
}

// BuildICMPError writes into buf an error e about the packet p decoded from
// orig, sent to that packet's source, quoting as much of it as fits in 576
// bytes of IPv4 (RFC 1812 4.3.2.3) or 1280 bytes of IPv6 (RFC 4443 2.4(c))
// and in buf. It returns the frame length, or 0 when buf is too small, e.Src
// is of the other family, or the rules say no error may be sent (RFC 1122
// 3.2.2, RFC 1812 4.3.2.7, RFC 4443 2.4(e)): p is itself an ICMP error or a
// later fragment, was sent to a multicast or broadcast address (for IPv6 a
// multicast destination is allowed for packet too big and for parameter
// problem code 2), or came from an address that is not a single host. Rate
// limiting is the caller's.
//
// buf may be orig itself: the quote is moved before the headers are written.
func BuildICMPError(buf, orig []byte, p *Parsed, e *ICMPError) int {
	if p.Family == 0 || Is4(e.Src) != (p.Family == 4) || !icmpErrorAllowed(p, e) {
		return 0
	}
	s := Spec{
		DstMAC: e.DstMAC, SrcMAC: e.SrcMAC, VLANID: e.VLANID,
		Src: e.Src, Dst: p.Src, TTL: e.TTL,
		ICMPType: e.Type, ICMPCode: e.Code,
	}
	limit := icmp6QuoteLimit - ipv6HeaderLen - icmpHeaderLen
	if p.Family == 4 {
		limit = icmp4QuoteLimit - ipv4MinHeaderLen - icmpHeaderLen
		s.Proto = ProtoICMP
		switch {
		case e.Type == ICMPUnreachable && e.Code == ICMPCodeFragNeeded:
			s.ICMPSeq = uint16(e.Param)
		case e.Type == ICMPParamProblem:
			s.ICMPID = uint16(e.Param) << 8
		}
	} else {
		s.Proto = ProtoICMPv6
		s.ICMPID, s.ICMPSeq = uint16(e.Param>>16), uint16(e.Param)
	}
	hl := HeaderLen(&s)
	if hl == 0 || hl >= len(buf) {
		return 0
	}
	quote := orig[p.L3Off:p.End]
	if len(quote) > limit {
		quote = quote[:limit]
	}
	if len(quote) > len(buf)-hl {
		quote = quote[:len(buf)-hl]
	}
	s.Payload = quote
	return Build(buf, &s)
}

// icmpErrorAllowed applies the rules on when an ICMP error must not be sent.
func icmpErrorAllowed(p *Parsed, e *ICMPError) bool {
	if p.Flags&(FlagLaterFragment|FlagICMPError) != 0 {
		return false
	}
	if p.Family == 4 {
		src, dst := IPv4(p.Src), IPv4(p.Dst)
		if p.DstMAC[0]&1 != 0 || dst[0] >= 224 || // multicast (224/4), class E and 255.255.255.255
			src[0] == 0 || src[0] == 127 || src[0] >= 224 {
			return false
		}
		return true
	}
	if p.Src[0] == 0xff || p.Src == [16]byte{} {
		return false
	}
	if p.Dst[0] == 0xff || p.DstMAC[0]&1 != 0 {
		return e.Type == ICMPv6PacketTooBig || (e.Type == ICMPv6ParamProblem && e.Code == 2)
	}
	return true
}
