package xsk

import "golang.org/x/sys/unix"

// Desc describes one buffer on the rx or tx ring: its address in the UMEM, its
// length, and its options. It has the layout of struct xdp_desc.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// OptionContinued marks a descriptor whose packet continues in the next
// descriptor (XDP_PKT_CONTD): multi-buffer frames, such as 9000-byte jumbo
// frames, arrive and leave as such chains. The last descriptor of a packet has
// it clear.
const OptionContinued = unix.XDP_PKT_CONTD

// PacketSpan returns how many descriptors at the start of descs make up the
// first packet, and whether that packet is complete (its last descriptor, with
// OptionContinued clear, is in descs).
func PacketSpan(descs []Desc) (n int, complete bool) {
	for i := range descs {
		if descs[i].Options&OptionContinued == 0 {
			return i + 1, true
		}
	}
	return len(descs), false
}
