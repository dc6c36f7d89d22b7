package packet

// DropReason says why Decode refused a frame. The engine counts drops per
// reason in a [NumDropReasons]uint64 array instead of building an error.
// DropNone is the zero value: the frame is well formed as far as Decode reads.
type DropReason uint8

const (
	DropNone              DropReason = iota // well formed
	DropTooShort                            // frame ends inside the Ethernet or VLAN header, or before the IP header
	DropTooLong                             // frame longer than 65535 bytes: offsets would not fit
	DropVLANDepth                           // more than two VLAN tags
	DropARPTruncated                        // ARP body shorter than 28 bytes
	DropIPVersion                           // IP version nibble does not match the EtherType
	DropIPv4IHL                             // IHL below 5, or the header runs past the frame
	DropIPv4TotalLength                     // total length below the header length, or past the frame
	DropIPv4Checksum                        // IPv4 header checksum does not verify
	DropIPv6PayloadLength                   // payload length runs past the frame (jumbograms are not supported)
	DropIPv6ExtHeader                       // extension header chain truncated, too long, misplaced hop-by-hop or two fragment headers
	DropIPv6Mapped                          // IPv6 source or destination is v4-mapped (RFC 4291 2.5.5.2: never on the wire)
	DropFragmentOverflow                    // fragment offset plus length beyond 65535 (ping of death)
	DropTinyFragment                        // IPv4 TCP fragment at offset 8 (RFC 1858 overlap attack)
	DropTCPTooShort                         // fewer than 20 bytes of TCP header (8 in an ICMP quote)
	DropTCPOffset                           // TCP data offset below 5 words or past the IP payload
	DropUDPTooShort                         // fewer than 8 bytes of UDP header
	DropUDPLength                           // UDP length below 8 or past the IP payload
	DropICMPTooShort                        // fewer than 8 bytes of ICMP header
	DropICMPInner                           // ICMP error whose quoted packet cannot be parsed or is of the other family

	NumDropReasons = iota // size of a per-reason counter array
)

var dropNames = [NumDropReasons]string{
	DropNone:              "none",
	DropTooShort:          "too-short",
	DropTooLong:           "too-long",
	DropVLANDepth:         "vlan-depth",
	DropARPTruncated:      "arp-truncated",
	DropIPVersion:         "ip-version",
	DropIPv4IHL:           "ipv4-ihl",
	DropIPv4TotalLength:   "ipv4-total-length",
	DropIPv4Checksum:      "ipv4-checksum",
	DropIPv6PayloadLength: "ipv6-payload-length",
	DropIPv6ExtHeader:     "ipv6-ext-header",
	DropIPv6Mapped:        "ipv6-mapped",
	DropFragmentOverflow:  "fragment-overflow",
	DropTinyFragment:      "tiny-fragment",
	DropTCPTooShort:       "tcp-too-short",
	DropTCPOffset:         "tcp-offset",
	DropUDPTooShort:       "udp-too-short",
	DropUDPLength:         "udp-length",
	DropICMPTooShort:      "icmp-too-short",
	DropICMPInner:         "icmp-inner",
}

// String returns a short lowercase name, stable for metrics labels.
func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "unknown"
}

// Class says what kind of frame Decode saw, so that the engine knows whether
// to forward it itself or hand it to the kernel.
type Class uint8

const (
	ClassNone  Class = iota // not decoded: the frame was dropped before the EtherType
	ClassIPv4               // IPv4 packet: Headers filled
	ClassIPv6               // IPv6 packet: Headers filled
	ClassARP                // Ethernet/IPv4 ARP: ARP filled; for the kernel
	ClassOther              // anything else (other EtherTypes, 802.3 length frames, non-IPv4 ARP): for the kernel
)

var classNames = [...]string{
	ClassNone:  "none",
	ClassIPv4:  "ipv4",
	ClassIPv6:  "ipv6",
	ClassARP:   "arp",
	ClassOther: "other",
}

// String returns a short lowercase name.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}
