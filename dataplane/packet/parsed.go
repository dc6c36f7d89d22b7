package packet

// Flags describe an IP packet beyond its fixed fields.
type Flags uint16

const (
	FlagL4            Flags = 1 << iota // transport header present and decoded: ports, TCP, UDP or ICMP fields are valid
	FlagFragment                        // a fragment: IPv4 MF or offset, or an IPv6 fragment header (even an atomic one)
	FlagMoreFragments                   // MF set: more fragments follow this one
	FlagLaterFragment                   // offset is not zero: no transport header here, only Proto is known
	FlagDontFragment                    // IPv4 DF
	FlagIPOptions                       // IPv4 options, or IPv6 extension headers, were skipped
	FlagICMPError                       // ICMP/ICMPv6 error: Parsed.Inner holds the quoted packet
	FlagTruncated                       // Inner only: the quoted packet is longer than the quote
)

// Headers is what Decode read from one IP packet and the transport header
// after it. Parsed holds two: the packet itself (embedded) and, for an ICMP
// error, the packet that the error quotes (Parsed.Inner).
//
// Addresses are 16 bytes for both families; an IPv4 address is stored
// v4-mapped (::ffff:a.b.c.d, RFC 4291 2.5.5.2) so that a flow key holding
// [16]byte addresses never confuses families and netip.AddrFrom16(a).Unmap()
// gives the usual form. Offsets count from the start of the frame.
type Headers struct {
	Src, Dst [16]byte // IP source and destination, IPv4 v4-mapped

	Seq, Ack uint32 // TCP sequence and acknowledgement numbers (Inner: Seq only)
	FragID   uint32 // IPv4 identification or IPv6 fragment identification

	L3Off      uint16 // IP header
	L4Off      uint16 // transport header, after IPv4 options and IPv6 extension headers
	PayloadOff uint16 // transport payload: after TCP options, the UDP header or the 8-byte ICMP header; 0 if not decoded
	End        uint16 // one past the IP packet (total length, not Ethernet padding; Inner: clamped to the quote)
	FragOff    uint16 // fragment offset in bytes

	SrcPort, DstPort uint16 // TCP/UDP ports; 0 for other protocols
	Window           uint16 // TCP window (not scaled)
	UDPLen           uint16 // UDP length field
	ICMPID           uint16 // ICMP/ICMPv6 query identifier (echo, timestamp, ...): the "port" of an ICMP flow

	Flags    Flags
	Family   uint8 // 4 or 6; 0 when not an IP packet
	Proto    uint8 // transport protocol: IPv4 protocol or the IPv6 next header after the extension headers
	TTL      uint8 // IPv4 TTL or IPv6 hop limit
	TOS      uint8 // IPv4 TOS or IPv6 traffic class (DSCP and ECN)
	TCPFlags uint8 // TCP flags byte (TCPSyn, TCPAck, ...)
	ICMPType uint8
	ICMPCode uint8
}

// ARP holds an Ethernet/IPv4 ARP message.
type ARP struct {
	Op       uint16 // ARPRequest or ARPReply
	SenderHW [6]byte
	SenderIP [4]byte
	TargetHW [6]byte
	TargetIP [4]byte
}

// Parsed is a decoded view of one Ethernet frame. Decode fills it in place
// and never allocates; it holds no pointers (not even to the frame), so it can
// live in a per-worker array and be copied freely. Rewrite helpers take the
// frame and the Parsed that Decode made from it.
//
// A Parsed is not safe for concurrent use; each worker owns its own.
type Parsed struct {
	Headers         // the IP packet (Class IPv4 or IPv6)
	Inner   Headers // the packet quoted by an ICMP error (Flags has FlagICMPError); Inner.Family is 0 otherwise
	ARP     ARP     // Class ARP

	DstMAC, SrcMAC [6]byte
	EtherType      uint16 // after any VLAN tags
	VLANID         uint16 // VID of the outer tag, 0 when untagged
	VLANTags       uint8  // number of VLAN tags (0-2)
	Class          Class
}

// Is4 reports whether the 16-byte address a is IPv4, stored v4-mapped.
func Is4(a [16]byte) bool {
	return be.Uint64(a[0:8]) == 0 && be.Uint32(a[8:12]) == 0x0000ffff
}

// Addr4 returns the IPv4 address a as 16 bytes, v4-mapped.
func Addr4(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// IPv4 returns the last four bytes of a v4-mapped address.
func IPv4(a [16]byte) [4]byte {
	return [4]byte{a[12], a[13], a[14], a[15]}
}

// IsFirstFragment reports whether h is a fragment that carries the transport header.
func (h *Headers) IsFirstFragment() bool {
	return h.Flags&(FlagFragment|FlagLaterFragment) == FlagFragment && h.Flags&FlagMoreFragments != 0
}

// TCPOptions returns the TCP options of the packet in frame (nil if none).
// The slice aliases frame.
func (h *Headers) TCPOptions(frame []byte) []byte {
	if h.Proto != ProtoTCP || h.Flags&FlagL4 == 0 || int(h.PayloadOff) <= int(h.L4Off)+tcpMinHeaderLen {
		return nil
	}
	return frame[int(h.L4Off)+tcpMinHeaderLen : h.PayloadOff]
}

// Payload returns the transport payload of the packet in frame, up to the end
// of the IP packet (nil if the transport header was not decoded). The slice
// aliases frame.
func (h *Headers) Payload(frame []byte) []byte {
	if h.PayloadOff == 0 {
		return nil
	}
	return frame[h.PayloadOff:h.End]
}

// IsNDP reports whether h is an ICMPv6 neighbour discovery message (router
// solicitation/advertisement, neighbour solicitation/advertisement,
// redirect), which, like ARP, belongs to the kernel.
func (h *Headers) IsNDP() bool {
	return h.Proto == ProtoICMPv6 && h.Flags&FlagL4 != 0 && h.ICMPType >= ICMPv6RouterSolicit && h.ICMPType <= ICMPv6Redirect
}
