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
// # Design choices
//
// Addresses are [16]byte for both families with IPv4 v4-mapped
// (::ffff:a.b.c.d) rather than in the first four bytes: a flow key built
// from them cannot mistake an IPv4 flow for an IPv6 one even without a
// family field, and netip.AddrFrom16(a).Unmap() prints it right.
//
// Parsed keeps no reference to the frame (tailscale's keeps the slice): it is
// pointer-free, so arrays of it cost the garbage collector nothing and a copy
// is a plain memcpy; the rewrite helpers take the frame explicitly.
//
// Decode verifies the IPv4 header checksum (20 bytes, a few nanoseconds) as a
// router must, but not transport checksums.
//
// Non-IP frames are not drops: Class says ARP or Other and the engine hands
// them to the kernel. ARP with other than Ethernet and IPv4 addresses is
// Other.
//
// Hot-path code uses no fmt, interfaces or closures; byte order is explicit
// through encoding/binary.BigEndian.
package packet
