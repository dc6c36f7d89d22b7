package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// CCPPort is the UDP port of the Cluster Control Protocol.
const CCPPort = 8116

// Verdict counters of the steering program, indices into its per-CPU counter
// array. Redirects to data sockets are not counted here (the sockets count
// what they receive); everything handed to the kernel is, by reason.
const (
	CountPassNoInterface  = iota // interface not configured for Tandem
	CountPassNonIP               // ARP and other non-IP ethertypes
	CountPassND                  // IPv6 neighbour discovery
	CountPassIPv6HopByHop        // IPv6 with a hop-by-hop header (MLD and the like)
	CountPassMalformed           // too short for its headers: the kernel drops or answers it
	CountPassNotSteered          // IP on an interface with data steering off (the sync link)
	CountCCP                     // redirected to a CCP socket slot
	CountPassLocal               // addressed to the gateway itself (AddLocal): its kernel answers
	numCounters
)

var counterNames = [numCounters]string{
	"pass_no_interface", "pass_non_ip", "pass_nd", "pass_ipv6_hop_by_hop",
	"pass_malformed", "pass_not_steered", "ccp", "pass_local",
}

// CounterName names a steering counter for logs and metrics.
func CounterName(i int) string {
	if i < 0 || i >= numCounters {
		return fmt.Sprintf("counter%d", i)
	}
	return counterNames[i]
}

// MaxIfindex bounds the interface indexes the steering program can be
// configured on: its interface map is an array indexed by ifindex, which the
// verifier turns into a plain memory access.
const MaxIfindex = 16384

// InterfaceConfig tells the steering program what to do on one interface.
// It is the value of the program's interface map, indexed by ifindex.
type InterfaceConfig struct {
	DataBase uint32 // XSKMAP slot of queue 0's data socket; queue q uses DataBase+q
	CCPBase  uint32 // XSKMAP slot of queue 0's CCP socket; queue q uses CCPBase+q
	Flags    uint32 // SteerData | SteerCCP
	CCPPort  uint32 // UDP destination port of CCP, host order; 0 means CCPPort
}

// Flags of InterfaceConfig.
const (
	SteerData uint32 = 1 << 0 // IPv4/IPv6 traffic goes to the data socket of its queue
	SteerCCP  uint32 = 1 << 1 // UDP to the CCP port goes to the CCP socket of its queue
)

// configured marks an interface map slot in use (the others are zero).
const configured uint32 = 1 << 31

// wireValue is InterfaceConfig as the program reads it: the port as a packet
// load yields it, and the local-address filter.
type wireValue struct {
	DataBase, CCPBase, Flags, Port uint32
	// LocalBloom has bit localBit(a) set for every local address a: a packet
	// whose bit is clear is not for the gateway, and skips the hash lookup.
	LocalBloom uint64
}

// localBit is the bit of an address in LocalBloom: its last four bytes
// (the IPv4 address, for a v4-mapped one) as a 32-bit load from the packet
// yields them, folded to 6 bits. The program computes the same.
func localBit(a netip.Addr) uint {
	b := a.As16()
	v := binary.NativeEndian.Uint32(b[12:16])
	v ^= v >> 16
	v ^= v >> 8
	return uint(v & 63)
}

// Steering is the loaded steering program with its maps.
type Steering struct {
	Program  *ebpf.Program
	XSKs     *ebpf.Map // XSKMAP: slot → AF_XDP socket
	Ifaces   *ebpf.Map // ARRAY: ifindex → InterfaceConfig (with the local-address filter)
	Counters *ebpf.Map // PERCPU_ARRAY: verdict counters
	Local    *ebpf.Map // HASH: 16-byte address (IPv4 v4-mapped) → 1: the gateway's own addresses

	attachments
	ifcs  map[int]wireValue   // configured interfaces, to rewrite the filter
	local map[netip.Addr]bool // AddLocal's addresses
}

// NewSteering loads the steering program with an XSKMAP of slots entries.
func NewSteering(slots int) (*Steering, error) {
	if slots <= 0 || slots > 1<<16 {
		return nil, fmt.Errorf("loading steering program: %d xsk slots: want 1..65536", slots)
	}
	s := &Steering{ifcs: map[int]wireValue{}, local: map[netip.Addr]bool{}}
	var err error
	s.XSKs, err = ebpf.NewMap(&ebpf.MapSpec{Name: "tandem_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(slots)})
	if err != nil {
		return nil, fmt.Errorf("creating xsk map: %w", err)
	}
	s.Ifaces, err = ebpf.NewMap(&ebpf.MapSpec{Name: "tandem_ifaces", Type: ebpf.Array, KeySize: 4, ValueSize: 24, MaxEntries: MaxIfindex})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("creating interface map: %w", err)
	}
	s.Counters, err = ebpf.NewMap(&ebpf.MapSpec{Name: "tandem_steer_ct", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: numCounters})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("creating counter map: %w", err)
	}
	s.Local, err = ebpf.NewMap(&ebpf.MapSpec{Name: "tandem_local", Type: ebpf.Hash, KeySize: 16, ValueSize: 4, MaxEntries: 1024})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("creating local address map: %w", err)
	}
	s.Program, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "tandem_steer",
		Type:         ebpf.XDP,
		License:      "Dual MIT/GPL",
		Instructions: steeringInstructions(s.XSKs.FD(), s.Ifaces.FD(), s.Counters.FD(), s.Local.FD()),
		// Jumbo frames on the sync link arrive as multi-buffer packets;
		// without this flag a native attach on an MTU 9000 link fails.
		Flags: unix.BPF_F_XDP_HAS_FRAGS,
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("loading steering program: %w", err)
	}
	return s, nil
}

// SetInterface configures steering on the interface with index ifindex.
func (s *Steering) SetInterface(ifindex int, c InterfaceConfig) error {
	port := c.CCPPort
	if port == 0 {
		port = CCPPort
	}
	if port > 0xffff {
		return fmt.Errorf("configuring steering on ifindex %d: ccp port %d out of range", ifindex, port)
	}
	if ifindex <= 0 || ifindex >= MaxIfindex {
		return fmt.Errorf("configuring steering on ifindex %d: beyond the program's %d interface slots", ifindex, MaxIfindex)
	}
	v := wireValue{DataBase: c.DataBase, CCPBase: c.CCPBase, Flags: c.Flags | configured, Port: uint32(uint16(wire16(uint16(port)))), LocalBloom: s.bloom()}
	if err := s.Ifaces.Put(uint32(ifindex), v); err != nil {
		return fmt.Errorf("configuring steering on ifindex %d: %w", ifindex, err)
	}
	s.ifcs[ifindex] = v
	return nil
}

func (s *Steering) bloom() uint64 {
	var b uint64
	for a := range s.local {
		b |= 1 << localBit(a)
	}
	return b
}

// refilter rewrites every configured interface's local-address filter.
func (s *Steering) refilter() error {
	b := s.bloom()
	for ifindex, v := range s.ifcs {
		v.LocalBloom = b
		if err := s.Ifaces.Put(uint32(ifindex), v); err != nil {
			return fmt.Errorf("updating the local-address filter on ifindex %d: %w", ifindex, err)
		}
		s.ifcs[ifindex] = v
	}
	return nil
}

// Register puts the socket fd into XSKMAP slot slot.
func (s *Steering) Register(slot uint32, fd int) error {
	if err := s.XSKs.Put(slot, uint32(fd)); err != nil {
		return fmt.Errorf("registering xsk fd %d in slot %d: %w", fd, slot, err)
	}
	return nil
}

// Unregister empties XSKMAP slot slot; its traffic goes to the kernel again.
func (s *Steering) Unregister(slot uint32) error {
	if err := s.XSKs.Delete(slot); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unregistering xsk slot %d: %w", slot, err)
	}
	return nil
}

// AddLocal makes packets to addr (one of the gateway's own addresses, or a
// VIP it holds) go to the kernel rather than the engine. CCP to a local
// address still goes to its socket. Do not add SNAT addresses: their return
// traffic belongs to the engine.
func (s *Steering) AddLocal(addr netip.Addr) error {
	if err := s.Local.Put(addr.As16(), uint32(1)); err != nil {
		return fmt.Errorf("adding local address %s: %w", addr, err)
	}
	s.local[addr] = true
	return s.refilter()
}

// RemoveLocal undoes AddLocal.
func (s *Steering) RemoveLocal(addr netip.Addr) error {
	if err := s.Local.Delete(addr.As16()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("removing local address %s: %w", addr, err)
	}
	delete(s.local, addr)
	return s.refilter()
}

// ReadCounters returns the verdict counters summed over CPUs.
func (s *Steering) ReadCounters() ([numCounters]uint64, error) {
	return sumPerCPU[[numCounters]uint64](s.Counters)
}

// Close detaches the program from every interface and releases it and its
// maps.
func (s *Steering) Close() error {
	errs := []error{s.detachAll()}
	if s.Program != nil {
		errs = append(errs, s.Program.Close())
	}
	for _, m := range []*ebpf.Map{s.XSKs, s.Ifaces, s.Counters, s.Local} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}

func sumPerCPU[A ~[numCounters]uint64](m *ebpf.Map) (A, error) {
	var out A
	var perCPU []uint64
	for k := uint32(0); k < uint32(len(out)); k++ {
		if err := m.Lookup(k, &perCPU); err != nil {
			return out, fmt.Errorf("reading counter %d: %w", k, err)
		}
		for _, v := range perCPU {
			out[k] += v
		}
	}
	return out, nil
}

// steeringInstructions builds the steering program.
//
// Registers: R6 context, R7 data, R8 data_end, R9 the interface's config, R5
// the ethertype (IPv4 or IPv6) from the IP paths on. Every packet access is
// preceded by a bounds check against data_end.
func steeringInstructions(xsks, ifaces, counters, local int) asm.Instructions {
	const (
		ipv4Proto  = ethHeaderLen + 9 // protocol
		ipv4Frag   = ethHeaderLen + 6 // flags and fragment offset
		ipv6Next   = ethHeaderLen + 6 // next header
		ipv6L4     = ethHeaderLen + ipv6HeaderLen
		udpDstPort = 2 // offset in the UDP header
	)
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		// cfg = ifaces[ingress_ifindex]
		asm.LoadMem(asm.R1, asm.R6, mdIngressIf, asm.Word),
		asm.StoreMem(asm.R10, -4, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, ifaces),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(), // an array: inlined by the verifier
		asm.JEq.Imm(asm.R0, 0, "no_iface"),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.Word),
		asm.RSh.Imm(asm.R1, 31), // the configured bit
		asm.JEq.Imm(asm.R1, 0, "no_iface"),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.LoadMem(asm.R7, asm.R6, mdData, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, mdDataEnd, asm.Word),

		// Ethernet, with at most one 802.1Q tag: on a tag, move R7 on by
		// four bytes so the code below sees an untagged header.
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, ethHeaderLen),
		asm.JGT.Reg(asm.R2, asm.R8, "malformed"),
		asm.LoadMem(asm.R5, asm.R7, 12, asm.Half),
		asm.JNE.Imm(asm.R5, wire16(0x8100), "ethertype"),
		asm.Add.Imm(asm.R7, vlanTagLen),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, ethHeaderLen),
		asm.JGT.Reg(asm.R2, asm.R8, "malformed"),
		asm.LoadMem(asm.R5, asm.R7, 12, asm.Half),

		asm.JEq.Imm(asm.R5, wire16(0x0800), "ipv4").WithSymbol("ethertype"),
		asm.JEq.Imm(asm.R5, wire16(0x86dd), "ipv6"),
		asm.Ja.Label("non_ip"),

		// IPv4: UDP, first fragment, to the CCP port?
		asm.Mov.Reg(asm.R2, asm.R7).WithSymbol("ipv4"),
		asm.Add.Imm(asm.R2, ethHeaderLen+ipv4MinLen),
		asm.JGT.Reg(asm.R2, asm.R8, "malformed"),
		asm.LoadMem(asm.R1, asm.R7, ipv4Proto, asm.Byte),
		asm.JNE.Imm(asm.R1, unix.IPPROTO_UDP, "data"),
		asm.LoadMem(asm.R1, asm.R7, ipv4Frag, asm.Half),
		asm.And.Imm(asm.R1, wire16(0x1fff)),
		asm.JNE.Imm(asm.R1, 0, "data"), // a later fragment has no UDP header
		asm.LoadMem(asm.R1, asm.R7, ethHeaderLen, asm.Byte),
		asm.And.Imm(asm.R1, 0x0f),
		asm.LSh.Imm(asm.R1, 2), // header length in bytes, 0..60
		asm.JLT.Imm(asm.R1, ipv4MinLen, "malformed"),
		asm.Mov.Reg(asm.R3, asm.R7),
		asm.Add.Reg(asm.R3, asm.R1), // R3: start of the IPv4 header's end minus 14
		asm.Mov.Reg(asm.R2, asm.R3),
		asm.Add.Imm(asm.R2, ethHeaderLen+udpHeaderLen),
		asm.JGT.Reg(asm.R2, asm.R8, "malformed"),
		asm.LoadMem(asm.R4, asm.R3, ethHeaderLen+udpDstPort, asm.Half),
		asm.Ja.Label("udp"),

		// IPv6: neighbour discovery and hop-by-hop go to the kernel.
		asm.Mov.Reg(asm.R2, asm.R7).WithSymbol("ipv6"),
		asm.Add.Imm(asm.R2, ipv6L4),
		asm.JGT.Reg(asm.R2, asm.R8, "malformed"),
		asm.LoadMem(asm.R1, asm.R7, ipv6Next, asm.Byte),
		asm.JEq.Imm(asm.R1, 0, "hop_by_hop"),
		asm.JEq.Imm(asm.R1, unix.IPPROTO_ICMPV6, "icmpv6"),
		asm.JNE.Imm(asm.R1, unix.IPPROTO_UDP, "data"),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, ipv6L4+udpHeaderLen),
		asm.JGT.Reg(asm.R2, asm.R8, "malformed"),
		asm.LoadMem(asm.R4, asm.R7, ipv6L4+udpDstPort, asm.Half),
		asm.Ja.Label("udp"),

		asm.Mov.Reg(asm.R2, asm.R7).WithSymbol("icmpv6"),
		asm.Add.Imm(asm.R2, ipv6L4+1),
		asm.JGT.Reg(asm.R2, asm.R8, "malformed"),
		asm.LoadMem(asm.R1, asm.R7, ipv6L4, asm.Byte),
		asm.JLT.Imm(asm.R1, 133, "data"), // router solicitation
		asm.JGT.Imm(asm.R1, 137, "data"), // redirect
		asm.Ja.Label("nd"),

		// UDP with its destination port in R4: CCP if steered and matching.
		asm.LoadMem(asm.R1, asm.R9, 8, asm.Word).WithSymbol("udp"),
		asm.And.Imm(asm.R1, int32(SteerCCP)),
		asm.JEq.Imm(asm.R1, 0, "data"),
		asm.LoadMem(asm.R1, asm.R9, 12, asm.Word),
		asm.JNE.Reg(asm.R4, asm.R1, "data"),
	}
	insns = append(insns, countInto(counters, CountCCP, "ccp_redirect")...)
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.R9, 4, asm.Word).WithSymbol("ccp_redirect"),
		asm.LoadMem(asm.R1, asm.R6, mdRxQueueIndex, asm.Word),
		asm.Add.Reg(asm.R2, asm.R1),
		asm.LoadMapPtr(asm.R1, xsks),
		asm.Mov.Imm(asm.R3, ActionPass), // an empty slot passes to the kernel
		asm.FnRedirectMap.Call(),
		asm.Return(),

		// Data: first, packets to the gateway's own addresses go to its
		// kernel. The filter (LocalBloom) rules most packets out without a
		// lookup: fold the destination's last four bytes to a bit number.
		// Both paths checked the fixed IP header's bounds.
		asm.LoadMem(asm.R1, asm.R7, ethHeaderLen+16, asm.Word).WithSymbol("data"),
		asm.JEq.Imm(asm.R5, wire16(0x0800), "fold"),
		asm.LoadMem(asm.R1, asm.R7, ethHeaderLen+36, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R1).WithSymbol("fold"),
		asm.RSh.Imm(asm.R2, 16),
		asm.Xor.Reg(asm.R1, asm.R2),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.RSh.Imm(asm.R2, 8),
		asm.Xor.Reg(asm.R1, asm.R2),
		asm.And.Imm(asm.R1, 63),
		asm.LoadMem(asm.R2, asm.R9, 16, asm.DWord),
		asm.RSh.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, 1),
		asm.JEq.Imm(asm.R2, 0, "steer_data"),
		// The bit is set: look the 16-byte destination up, IPv4 v4-mapped,
		// key at R10-24.
		asm.Mov.Imm(asm.R1, 0), // asm has no 64-bit store of an immediate
		asm.StoreMem(asm.R10, -24, asm.R1, asm.DWord),
		asm.JNE.Imm(asm.R5, wire16(0x0800), "local_v6"),
		asm.StoreImm(asm.R10, -16, int64(int32(wire32(0x0000ffff))), asm.Word), // bytes 00 00 ff ff
		asm.LoadMem(asm.R1, asm.R7, ethHeaderLen+16, asm.Word),
		asm.StoreMem(asm.R10, -12, asm.R1, asm.Word),
		asm.Ja.Label("local_lookup"),
		asm.LoadMem(asm.R1, asm.R7, ethHeaderLen+24, asm.DWord).WithSymbol("local_v6"),
		asm.StoreMem(asm.R10, -24, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R7, ethHeaderLen+32, asm.DWord),
		asm.StoreMem(asm.R10, -16, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, local).WithSymbol("local_lookup"),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -24),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "local"),

		// Then the socket of the rx queue, if this interface steers data.
		asm.LoadMem(asm.R1, asm.R9, 8, asm.Word).WithSymbol("steer_data"),
		asm.And.Imm(asm.R1, int32(SteerData)),
		asm.JEq.Imm(asm.R1, 0, "not_steered"),
		asm.LoadMem(asm.R2, asm.R9, 0, asm.Word),
		asm.LoadMem(asm.R1, asm.R6, mdRxQueueIndex, asm.Word),
		asm.Add.Reg(asm.R2, asm.R1),
		asm.LoadMapPtr(asm.R1, xsks),
		asm.Mov.Imm(asm.R3, ActionPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	)
	for _, p := range []struct {
		label string
		count int32
	}{
		{"no_iface", CountPassNoInterface},
		{"non_ip", CountPassNonIP},
		{"nd", CountPassND},
		{"hop_by_hop", CountPassIPv6HopByHop},
		{"malformed", CountPassMalformed},
		{"not_steered", CountPassNotSteered},
		{"local", CountPassLocal},
	} {
		block := countInto(counters, p.count, p.label+"_ret")
		block[0] = block[0].WithSymbol(p.label)
		insns = append(insns, block...)
		insns = append(insns,
			asm.Mov.Imm(asm.R0, ActionPass).WithSymbol(p.label+"_ret"),
			asm.Return(),
		)
	}
	return insns
}
