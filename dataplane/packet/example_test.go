package packet_test

import (
	"fmt"
	"net/netip"

	"github.com/tandem-gw/tandem/dataplane/packet"
)

// A worker decodes a frame, looks up its flow by the 5-tuple and applies
// source NAT in place.
func ExampleParsed_Decode() {
	buf := make([]byte, 128)
	n := packet.Build(buf, &packet.Spec{
		Src: packet.Addr4([4]byte{10, 0, 0, 1}), Dst: packet.Addr4([4]byte{192, 0, 2, 7}),
		Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 53, Payload: []byte("query"),
	})
	frame := buf[:n]

	var p packet.Parsed // one per worker, reused for every frame
	if r := p.Decode(frame); r != packet.DropNone {
		fmt.Println("drop:", r)
		return
	}
	fmt.Println(p.Class, netip.AddrFrom16(p.Src).Unmap(), p.SrcPort, "->", netip.AddrFrom16(p.Dst).Unmap(), p.DstPort)

	packet.SetIPv4Src(frame, &p, [4]byte{203, 0, 113, 5})
	packet.SetSrcPort(frame, &p, 61000)
	packet.DecrementTTL(frame, &p)
	fmt.Println(netip.AddrFrom16(p.Src).Unmap(), p.SrcPort, p.TTL, packet.ChecksumsValid(frame, &p))
	// Output:
	// ipv4 10.0.0.1 40000 -> 192.0.2.7 53
	// 203.0.113.5 61000 63 true
}
