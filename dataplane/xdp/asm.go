package xdp

import (
	"encoding/binary"

	"github.com/cilium/ebpf/asm"
)

// Offsets in struct xdp_md, the XDP program's context.
const (
	mdData         = 0  // u32 data
	mdDataEnd      = 4  // u32 data_end
	mdIngressIf    = 12 // u32 ingress_ifindex
	mdRxQueueIndex = 16 // u32 rx_queue_index
)

// XDP actions.
const (
	ActionAborted  = 0
	ActionDrop     = 1
	ActionPass     = 2
	ActionTx       = 3
	ActionRedirect = 4
)

// Header sizes and offsets the programs use.
const (
	ethHeaderLen  = 14 // destination, source, ethertype
	vlanTagLen    = 4  // 802.1Q tag
	ipv4MinLen    = 20 // IPv4 header without options
	ipv6HeaderLen = 40 // fixed IPv6 header
	udpHeaderLen  = 8
)

// wire16 is the value a 16-bit load from the packet yields for the
// big-endian number v on this host.
func wire16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// wire32 is the value a 32-bit load from the packet yields for the
// big-endian number v on this host.
func wire32(v uint32) uint32 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return binary.NativeEndian.Uint32(b[:])
}

// countInto emits: counters[key] += 1 on a per-CPU array. It clobbers R0-R5
// and the stack word at -8.
func countInto(countersFD int, key int32, skip string) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.R10, -8, int64(key), asm.Word),
		asm.LoadMapPtr(asm.R1, countersFD),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	}
}
