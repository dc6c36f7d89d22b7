package xdp

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Ceiling is the XDP_DROP program with a per-CPU packet and byte counter: the
// fastest any receiver on an interface can be, the baseline of the receive
// benchmarks, and a cheap sink that counts what reaches an interface.
type Ceiling struct {
	Program  *ebpf.Program
	Counters *ebpf.Map // PERCPU_ARRAY, key 0: packets, key 1: bytes

	attachments
}

// NewCeiling loads the drop-and-count program.
func NewCeiling() (*Ceiling, error) {
	c := &Ceiling{}
	var err error
	c.Counters, err = ebpf.NewMap(&ebpf.MapSpec{Name: "tandem_drop_ct", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		return nil, fmt.Errorf("creating drop counter map: %w", err)
	}
	fd := c.Counters.FD()
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
	}
	insns = append(insns, countInto(fd, 0, "bytes")...)
	bytes := asm.Instructions{
		asm.StoreImm(asm.R10, -8, 1, asm.Word).WithSymbol("bytes"),
		asm.LoadMapPtr(asm.R1, fd),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R2, asm.R6, mdDataEnd, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, mdData, asm.Word),
		asm.Sub.Reg(asm.R2, asm.R3),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, ActionDrop).WithSymbol("drop"),
		asm.Return(),
	}
	insns = append(insns, bytes...)
	c.Program, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "tandem_ceiling", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: insns, Flags: unix.BPF_F_XDP_HAS_FRAGS,
	})
	if err != nil {
		c.Counters.Close()
		return nil, fmt.Errorf("loading ceiling program: %w", err)
	}
	return c, nil
}

// Read returns the packets and bytes dropped so far, summed over CPUs.
func (c *Ceiling) Read() (packets, bytes uint64, err error) {
	var perCPU []uint64
	for k, dst := range []*uint64{&packets, &bytes} {
		if err := c.Counters.Lookup(uint32(k), &perCPU); err != nil {
			return 0, 0, fmt.Errorf("reading drop counter %d: %w", k, err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return packets, bytes, nil
}

// Close detaches and releases the program and its map.
func (c *Ceiling) Close() error {
	err := c.detachAll()
	if c.Program != nil {
		c.Program.Close()
	}
	if c.Counters != nil {
		c.Counters.Close()
	}
	return err
}
