package xdpgen

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Offsets the generator program rewrites.
const (
	udpSrcPortOff = EthLen + IPv4Len     // UDP source port
	udpDstPortOff = EthLen + IPv4Len + 2 // UDP destination port
)

// SenderConfig describes the traffic.
type SenderConfig struct {
	Frame []byte // the template frame: Ethernet/IPv4/UDP without options (UDP4Frame)
	Flows uint32 // distinct flows, 1..1<<20; 0 means 1
	// BatchSize is how many frames the kernel prepares per batch (default 64).
	BatchSize uint32
}

// Sender transmits frames out of one interface with BPF_PROG_RUN live
// frames. Create and use it on a thread inside the interface's namespace.
type Sender struct {
	prog    *ebpf.Program
	counter *ebpf.Map
	frame   []byte
	ifindex int
	batch   uint32
}

// xdpMD is struct xdp_md, the context BPF_PROG_RUN takes for XDP.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// NewSender loads the generator program for interface ifname.
func NewSender(ifname string, cfg SenderConfig) (*Sender, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("xdpgen on %s: %w", ifname, err)
	}
	if len(cfg.Frame) < MinFrame || cfg.Frame[12] != 0x08 || cfg.Frame[13] != 0x00 || cfg.Frame[EthLen] != 0x45 || cfg.Frame[EthLen+9] != 17 {
		return nil, errors.New("xdpgen: template must be an Ethernet/IPv4/UDP frame without IP options")
	}
	flows := cfg.Flows
	if flows == 0 {
		flows = 1
	}
	if flows > 1<<20 {
		return nil, fmt.Errorf("xdpgen: %d flows: at most %d", flows, 1<<20)
	}
	counter, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xdpgen_ctr", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("xdpgen: creating counter map: %w", err)
	}
	baseSport := uint32(cfg.Frame[udpSrcPortOff])<<8 | uint32(cfg.Frame[udpSrcPortOff+1])
	baseDport := uint32(cfg.Frame[udpDstPortOff])<<8 | uint32(cfg.Frame[udpDstPortOff+1])
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "tandem_xdpgen", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: generatorInstructions(counter.FD(), flows, baseSport, baseDport),
	})
	if err != nil {
		counter.Close()
		return nil, fmt.Errorf("xdpgen: loading program: %w", err)
	}
	batch := cfg.BatchSize
	if batch == 0 {
		batch = 64
	}
	return &Sender{prog: prog, counter: counter, frame: cfg.Frame, ifindex: ifi.Index, batch: batch}, nil
}

// generatorInstructions: i = counter++; rewrite the ports from i mod flows;
// XDP_TX.
func generatorInstructions(counterFD int, flows, baseSport, baseDport uint32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, counterFD),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "tx"),
		asm.LoadMem(asm.R7, asm.R0, 0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mod.Imm(asm.R7, int32(flows)),

		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, MinFrame),
		asm.JGT.Reg(asm.R4, asm.R3, "tx"),

		// source port: base + (i & 0xffff), big-endian
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.And.Imm(asm.R1, 0xffff),
		asm.Add.Imm(asm.R1, int32(baseSport)),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.R2, udpSrcPortOff, asm.R1, asm.Half),
		// destination port: base + (i >> 16)
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.RSh.Imm(asm.R1, 16),
		asm.Add.Imm(asm.R1, int32(baseDport)),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.R2, udpDstPortOff, asm.R1, asm.Half),

		asm.Mov.Imm(asm.R0, 3).WithSymbol("tx"), // XDP_TX
		asm.Return(),
	}
}

// Send transmits n frames and returns how long the kernel took. It blocks
// the calling thread for that long; the frames go out on its CPU.
func (s *Sender) Send(n uint32) (time.Duration, error) {
	ctx := xdpMD{DataEnd: uint32(len(s.frame)), IngressIfindex: uint32(s.ifindex)}
	start := time.Now()
	_, err := s.prog.Run(&ebpf.RunOptions{
		Data:      s.frame,
		Context:   ctx,
		Repeat:    n,
		Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		BatchSize: s.batch,
	})
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("xdpgen: sending %d frames: %w", n, err)
	}
	return d, nil
}

// Sent returns how many frames the program has handled, summed over CPUs.
func (s *Sender) Sent() (uint64, error) {
	var perCPU []uint64
	if err := s.counter.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("xdpgen: reading counter: %w", err)
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n, nil
}

// Close releases the program.
func (s *Sender) Close() error {
	return errors.Join(s.prog.Close(), s.counter.Close())
}
