// Package packet parses and crafts the headers Tandem forwards: Ethernet
// with up to two 802.1Q/802.1ad tags, ARP, IPv4 (options skipped,
// fragments recognised), IPv6 (extension headers walked to the transport
// header), TCP, UDP, ICMP and ICMPv6, including the packet quoted inside an
// ICMP error so that the error finds its connection. It also owns the
// Internet checksum: full (RFC 1071), pseudo-header, and incremental
// (RFC 1624) for the in-place NAT rewrites.
//
// # What it owns
//
//   - Parsed.Decode: a zero-allocation view of one frame (offsets and fields
//     in a caller-owned struct, in the spirit of tailscale's net/packet.Parsed)
//     and a DropReason for anything malformed. It never panics on any input.
//   - Rewrite helpers (SetSrcAddr, SetDstPort, SetICMPID, SetInner*,
//     DecrementTTL) that change a frame in place and patch every checksum
//     that covers the change, without reading the payload.
//   - Builders (Build, BuildICMPError, BuildARP*, BuildGratuitousARP,
//     BuildUnsolicitedNA) that write a complete frame into a caller's buffer.
//
// # What it does not own
//
// Policy (martian addresses, which ICMP types to forward), connection keys
// and state (dataplane/conntrack builds its key from Parsed), fragment
// reassembly, neighbour resolution, ICMP rate limiting, transport checksum
// verification on receive (ChecksumsValid is there for callers that want it;
// NICs and the kernel usually have), and any I/O.
//
// # Use on the forwarding path
//
//	var p packet.Parsed // one per worker, reused
//	if r := p.Decode(frame); r != packet.DropNone { drops[r]++; continue }
//	if p.Class != packet.ClassIPv4 && p.Class != packet.ClassIPv6 || p.IsNDP() { toKernel(frame); continue }
//
// A flow key is (Family, Proto, Src, Dst, SrcPort, DstPort); for ICMP
// queries the identifier ICMPID stands in for the ports. A later fragment
// (FlagLaterFragment) has no ports: key it by (Src, Dst, Proto, FragID) or
// drop it. An ICMP error (FlagICMPError) belongs to the connection of the
// packet it quotes: p.Inner is that packet as it was sent, so p.Inner's
// tuple finds the connection, and the error travels in the opposite
// direction to it. For NAT the engine rewrites the error's outer address
// (SetDstAddr) and the quoted packet's matching address and port
// (SetInnerSrcAddr, SetInnerSrcPort or SetInnerICMPID); every checksum,
// including the ICMP one over the quote, follows incrementally. Forwarding
// ends with DecrementTTL; when it refuses, BuildICMPError makes the time
// exceeded reply.
//
// # Design choices
//
// Addresses are [16]byte for both families with IPv4 v4-mapped
// (::ffff:a.b.c.d) rather than in the first four bytes: a flow key built
// from them cannot mistake an IPv4 flow for an IPv6 one even without a
// family field, and netip.AddrFrom16(a).Unmap() prints it right. To keep
// that true, Decode drops IPv6 packets that carry a v4-mapped address
// (DropIPv6Mapped), which RFC 4291 2.5.5.2 keeps off the wire anyway.
//
// Parsed keeps no reference to the frame (tailscale's keeps the slice): it is
// pointer-free, so arrays of it cost the garbage collector nothing and a copy
// is a plain memcpy; the rewrite helpers take the frame explicitly.
//
// Decode verifies the IPv4 header checksum (20 bytes, a few nanoseconds) as a
// router must, but not transport checksums. The pseudo-header is taken from
// the IPv6 header: for a packet whose routing header still has segments left
// (the pseudo-header then holds the final destination) ChecksumsValid and
// UpdateChecksums are wrong, and so is SetDstAddr's transport checksum
// update. Such transit packets should not be translated; the routing header
// is walked, not interpreted.
//
// Non-IP frames are not drops: Class says ARP or Other and the engine hands
// them to the kernel. ARP with other than Ethernet and IPv4 addresses is
// Other.
//
// Hot-path code uses no fmt, interfaces or closures; byte order is explicit
// through encoding/binary.BigEndian.
package packet
