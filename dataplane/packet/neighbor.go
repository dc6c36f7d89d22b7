package packet

// Frames a gateway sends to claim or find addresses on a link: ARP for IPv4
// and the unsolicited neighbour advertisement for IPv6 (after a failover).

const (
	ndOptTargetLLAddr = 2  // NDP option: target link-layer address (RFC 4861 4.6.1)
	naBodyLen         = 24 // target address (16) + target link-layer address option (8)
	naFlagRouter      = 0x8000
	naFlagOverride    = 0x2000
	ndHopLimit        = 255 // RFC 4861: ND messages are sent, and accepted, only with hop limit 255
)

var (
	broadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodesMAC  = [6]byte{0x33, 0x33, 0, 0, 0, 1}   // 33:33 + low 32 bits of ff02::1
	allNodesIPv6 = [16]byte{0: 0xff, 1: 0x02, 15: 1} // ff02::1
)

// BuildARP writes an Ethernet/IPv4 ARP frame carrying a to the Ethernet
// address dst, with an 802.1Q tag when vlan is not 0; the Ethernet source is
// a.SenderHW. It returns the frame length (42, or 46 tagged; not padded to
// 60) or 0 when buf is too small.
func BuildARP(buf []byte, dst [6]byte, vlan uint16, a *ARP) int {
	n := ethHeaderLen + arpLen
	if vlan != 0 {
		n += vlanTagLen
	}
	if len(buf) < n {
		return 0
	}
	off := putEthernet(buf, dst, a.SenderHW, vlan, EtherTypeARP)
	b := buf[off:n]
	be.PutUint16(b[0:], 1) // hardware type Ethernet
	be.PutUint16(b[2:], EtherTypeIPv4)
	b[4], b[5] = 6, 4
	be.PutUint16(b[6:], a.Op)
	copy(b[8:14], a.SenderHW[:])
	copy(b[14:18], a.SenderIP[:])
	copy(b[18:24], a.TargetHW[:])
	copy(b[24:28], a.TargetIP[:])
	return n
}

// BuildARPRequest writes a broadcast ARP request from hw/ip asking for target.
func BuildARPRequest(buf []byte, vlan uint16, hw [6]byte, ip, target [4]byte) int {
	return BuildARP(buf, broadcastMAC, vlan, &ARP{Op: ARPRequest, SenderHW: hw, SenderIP: ip, TargetIP: target})
}

// BuildARPReply writes the reply from hw/ip to the request req (as decoded
// into Parsed.ARP), sent to the requester's hardware address.
func BuildARPReply(buf []byte, vlan uint16, hw [6]byte, ip [4]byte, req *ARP) int {
	return BuildARP(buf, req.SenderHW, vlan, &ARP{Op: ARPReply, SenderHW: hw, SenderIP: ip, TargetHW: req.SenderHW, TargetIP: req.SenderIP})
}

// BuildGratuitousARP writes a gratuitous ARP announcing that ip is now at hw
// (RFC 5227 ARP announcement: a broadcast request with sender and target
// protocol addresses both ip), as a member does when it takes over a VIP.
func BuildGratuitousARP(buf []byte, vlan uint16, hw [6]byte, ip [4]byte) int {
	return BuildARP(buf, broadcastMAC, vlan, &ARP{Op: ARPRequest, SenderHW: hw, SenderIP: ip, TargetIP: ip})
}

// BuildUnsolicitedNA writes an unsolicited neighbour advertisement (ICMPv6
// type 136, RFC 4861 7.2.6) announcing that target is now at hw: from src
// (an address of the sending interface; target itself will do) to all nodes
// ff02::1, hop limit 255, Override set, Solicited clear, Router set when
// router, with a target link-layer address option. It is the IPv6
// counterpart of BuildGratuitousARP. It returns the frame length (86, or 90
// tagged) or 0 when buf is too small.
func BuildUnsolicitedNA(buf []byte, vlan uint16, hw [6]byte, src, target [16]byte, router bool) int {
	var body [naBodyLen]byte
	copy(body[0:16], target[:])
	body[16] = ndOptTargetLLAddr
	body[17] = 1 // option length in units of 8 octets
	copy(body[18:24], hw[:])
	flags := uint16(naFlagOverride)
	if router {
		flags |= naFlagRouter
	}
	s := Spec{
		DstMAC: allNodesMAC, SrcMAC: hw, VLANID: vlan,
		Src: src, Dst: allNodesIPv6, Proto: ProtoICMPv6, TTL: ndHopLimit,
		ICMPType: ICMPv6NeighborAdvert, ICMPID: flags,
		Payload: body[:],
	}
	return Build(buf, &s)
}
