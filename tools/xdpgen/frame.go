package xdpgen

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/tandem-gw/tandem/dataplane/packet"
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
// carrying payload after the headers, padded with zeros. It is packet.Build
// with the UDP checksum cleared: the generator rewrites ports without fixing
// checksums, and 0 (none) is valid for UDP over IPv4. buf nil: a new one.
func UDP4Frame(buf []byte, f UDP4, size int, payload []byte) ([]byte, error) {
	if size < MinFrame+len(payload) {
		size = MinFrame + len(payload)
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
	if size > cap(buf) {
		return nil, fmt.Errorf("building a %d-byte frame: too large for its %d-byte buffer", size, cap(buf))
	}
	padded := make([]byte, size-MinFrame)
	copy(padded, payload)
	n := packet.Build(buf[:cap(buf)], &packet.Spec{
		DstMAC: [6]byte(f.DstMAC), SrcMAC: [6]byte(f.SrcMAC),
		Src: f.Src.As16(), Dst: f.Dst.As16(), Proto: packet.ProtoUDP, TTL: f.TTL, DontFragment: true,
		SrcPort: f.SrcPort, DstPort: f.DstPort, Payload: padded,
	})
	if n != size {
		return nil, fmt.Errorf("building a %d-byte UDP4 frame: got %d bytes", size, n)
	}
	frame := buf[:n]
	binary.BigEndian.PutUint16(frame[EthLen+IPv4Len+6:], 0) // no UDP checksum
	return frame, nil
}
