package packet

import "encoding/binary"

// be is the byte order of every header this package reads or writes.
var be = binary.BigEndian

// Header sizes and limits.
const (
	ethHeaderLen     = 14    // destination MAC, source MAC, EtherType
	vlanTagLen       = 4     // 802.1Q/802.1ad tag: TPID is the EtherType slot, then TCI + inner EtherType
	maxVLANTags      = 2     // QinQ; a third tag is a drop
	arpLen           = 28    // ARP body for Ethernet hardware and IPv4 protocol addresses
	ipv4MinHeaderLen = 20    // IPv4 header without options
	ipv6HeaderLen    = 40    // fixed IPv6 header, extension headers follow
	ipv6ExtMinLen    = 8     // every IPv6 extension header is a multiple of 8 octets (AH: 4)
	ipv6FragHdrLen   = 8     // IPv6 fragment extension header
	maxIPv6ExtHdrs   = 8     // extension headers walked before the chain is called too long
	tcpMinHeaderLen  = 20    // TCP header without options
	tcpMaxHeaderLen  = 60    // data offset is 4 bits of 32-bit words
	udpHeaderLen     = 8     // source port, destination port, length, checksum
	icmpHeaderLen    = 8     // type, code, checksum, 4 bytes rest-of-header (ICMP and ICMPv6)
	l4QuoteMin       = 8     // transport bytes an ICMP error must quote: ports (and TCP seq)
	maxIPLen         = 65535 // IPv4 total length and the reassembled datagram limit
	maxFrameLen      = 65535 // offsets in Parsed are uint16
	icmp4QuoteLimit  = 576   // RFC 1812 4.3.2.3: an ICMPv4 error's IP datagram stays within 576 bytes
	icmp6QuoteLimit  = 1280  // RFC 4443 2.4(c): an ICMPv6 error stays within the IPv6 minimum MTU
)

// EtherTypes.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // 802.1Q customer tag
	EtherTypeQinQ = 0x88a8 // 802.1ad service tag
	EtherTypeIPv6 = 0x86dd
)

// IP protocol numbers (IPv4 protocol, IPv6 next header).
const (
	ProtoHopByHop     = 0
	ProtoICMP         = 1
	ProtoTCP          = 6
	ProtoUDP          = 17
	ProtoRouting      = 43 // IPv6 routing header
	ProtoFragment     = 44 // IPv6 fragment header
	ProtoESP          = 50
	ProtoAH           = 51
	ProtoICMPv6       = 58
	ProtoNoNextHeader = 59 // IPv6: nothing follows
	ProtoDestOpts     = 60 // IPv6 destination options
)

// TCP flags as found in byte 13 of the TCP header (Parsed.TCPFlags).
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
	TCPEce = 0x40
	TCPCwr = 0x80
)

// ICMPv4 types this package treats specially.
const (
	ICMPEchoReply      = 0
	ICMPUnreachable    = 3 // code 4: fragmentation needed, MTU in bytes 6-7
	ICMPSourceQuench   = 4
	ICMPRedirect       = 5
	ICMPEchoRequest    = 8
	ICMPTimeExceeded   = 11
	ICMPParamProblem   = 12 // pointer in byte 4
	ICMPTimestamp      = 13
	ICMPTimestampReply = 14
	ICMPInfoRequest    = 15
	ICMPInfoReply      = 16
	ICMPMaskRequest    = 17
	ICMPMaskReply      = 18

	ICMPCodeFragNeeded = 4 // with ICMPUnreachable
)

// ICMPv6 types this package treats specially.
const (
	ICMPv6Unreachable     = 1
	ICMPv6PacketTooBig    = 2 // MTU in bytes 4-7
	ICMPv6TimeExceeded    = 3
	ICMPv6ParamProblem    = 4 // pointer in bytes 4-7
	ICMPv6EchoRequest     = 128
	ICMPv6EchoReply       = 129
	ICMPv6RouterSolicit   = 133
	ICMPv6RouterAdvert    = 134
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
	ICMPv6Redirect        = 137
)

// ARP operations (ARP.Op).
const (
	ARPRequest = 1
	ARPReply   = 2
)

// icmpIsError reports whether an ICMP message of this family and type quotes
// the packet that caused it (RFC 792, RFC 4443 2.1: ICMPv6 types below 128).
func icmpIsError(family, typ uint8) bool {
	if family == 6 {
		return typ >= ICMPv6Unreachable && typ <= ICMPv6ParamProblem
	}
	switch typ {
	case ICMPUnreachable, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
		return true
	}
	return false
}

// icmpIsQuery reports whether an ICMP message of this family and type carries
// an identifier in bytes 4-5 that pairs a request with its reply.
func icmpIsQuery(family, typ uint8) bool {
	if family == 6 {
		return typ == ICMPv6EchoRequest || typ == ICMPv6EchoReply
	}
	switch typ {
	case ICMPEchoReply, ICMPEchoRequest, ICMPTimestamp, ICMPTimestampReply,
		ICMPInfoRequest, ICMPInfoReply, ICMPMaskRequest, ICMPMaskReply:
		return true
	}
	return false
}
