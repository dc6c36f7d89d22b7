package xdpgen

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Sizes of the headers UDP4Frame writes.
const (
	EthLen  = 14 // Ethernet header without a VLAN tag
	IPv4Len = 20 // IPv4 header without options
	UDPLen  = 8
	// MinFrame is the smallest frame UDP4Frame builds: the headers alone.
	MinFrame = EthLen + IPv4Len + UDPLen
)

// UDP4 describes one IPv4/UDP frame.
type UDP4 struct {
	DstMAC, SrcMAC   net.HardwareAddr
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	TTL              uint8 // 0 means 64
}

// UDP4Frame builds into buf a frame of the given size (at least MinFrame)
// carrying payload after the headers, padded with zeros. The IPv4 checksum is
// computed; the UDP checksum is 0 (none), which IPv4 allows.
func UDP4Frame(buf []byte, f UDP4, size int, payload []byte) ([]byte, error) {
	if size < MinFrame+len(payload) {
		size = MinFrame + len(payload)
	}
	if size > 65535+EthLen || size > cap(buf) && buf != nil {
		return nil, fmt.Errorf("building a %d-byte frame: too large for its buffer", size)
	}
	if !f.Src.Is4() || !f.Dst.Is4() {
		return nil, fmt.Errorf("building a UDP4 frame from %s to %s: not IPv4", f.Src, f.Dst)
	}
	if len(f.DstMAC) != 6 || len(f.SrcMAC) != 6 {
		return nil, fmt.Errorf("building a UDP4 frame: MAC addresses must be 6 bytes")
	}
	if buf == nil {
		buf = make([]byte, size)
	}
	b := buf[:size]
	clear(b)
	copy(b[0:6], f.DstMAC)
	copy(b[6:12], f.SrcMAC)
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	ip := b[EthLen:]
	ttl := f.TTL
	if ttl == 0 {
		ttl = 64
	}
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(size-EthLen))
	ip[6] = 0x40 // don't fragment
	ip[8] = ttl
	ip[9] = 17 // UDP
	src, dst := f.Src.As4(), f.Dst.As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:12], ipv4Checksum(ip[:IPv4Len]))
	udp := ip[IPv4Len:]
	binary.BigEndian.PutUint16(udp[0:2], f.SrcPort)
	binary.BigEndian.PutUint16(udp[2:4], f.DstPort)
	binary.BigEndian.PutUint16(udp[4:6], uint16(size-EthLen-IPv4Len))
	copy(udp[UDPLen:], payload)
	return b, nil
}

func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
