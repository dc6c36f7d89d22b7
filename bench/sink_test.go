package bench

import (
	"errors"
	"net"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/tandem-gw/tandem/tools/lab"
)

// sink counts and drops what reaches an interface.
type sink interface {
	Read() (packets, bytes uint64, err error)
	Close() error
}

// tcSink counts and drops packets at tc ingress (TCX) of a veth with GRO on.
// Unlike an XDP program on a veth, it takes an skb as it comes: an XDP
// program makes the veth copy every skb with less than 256 bytes of headroom
// into a new page, which AF_XDP's copy-mode transmit builds and the kernel's
// forwarding does not, so an XDP sink would charge one side of a comparison
// with a copy the other does not pay.
type tcSink struct {
	prog    *ebpf.Program
	counter *ebpf.Map
	lk      link.Link
}

func (s *tcSink) Read() (uint64, uint64, error) {
	var perCPU []uint64
	if err := s.counter.Lookup(uint32(0), &perCPU); err != nil {
		return 0, 0, err
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n, 0, nil
}

func (s *tcSink) Close() error {
	return errors.Join(s.lk.Close(), s.prog.Close(), s.counter.Close())
}

// attachSink attaches the counting sink the BENCH_SINK environment variable
// names (tc, the default, or xdp) to ifname in namespace ns.
func attachSink(b *testing.B, ns, ifname string) sink {
	if os.Getenv("BENCH_SINK") == "xdp" {
		return attachCeiling(b, ns, ifname)
	}
	// GRO puts the veth's receive on NAPI: without it, dst's packets would
	// queue on the same CPU's backlog as the kernel gateway's RPS input, and
	// lose to its overload.
	if err := lab.GROOn(ns, ifname); err != nil {
		b.Fatal(err)
	}
	s := &tcSink{}
	err := lab.Do(ns, func() (err error) {
		if s.counter, err = ebpf.NewMap(&ebpf.MapSpec{Name: "bench_sink_ct", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1}); err != nil {
			return err
		}
		s.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bench_tc_sink", Type: ebpf.SchedCLS, License: "MIT",
			Instructions: asm.Instructions{
				asm.StoreImm(asm.R10, -4, 0, asm.Word),
				asm.LoadMapPtr(asm.R1, s.counter.FD()),
				asm.Mov.Reg(asm.R2, asm.R10),
				asm.Add.Imm(asm.R2, -4),
				asm.FnMapLookupElem.Call(),
				asm.JEq.Imm(asm.R0, 0, "shot"),
				asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
				asm.Add.Imm(asm.R1, 1),
				asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
				asm.Mov.Imm(asm.R0, 2).WithSymbol("shot"), // TC_ACT_SHOT
				asm.Return(),
			}})
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		s.lk, err = link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: s.prog, Attach: ebpf.AttachTCXIngress})
		return err
	})
	if err != nil {
		b.Fatalf("tc sink on %s in %s: %v", ifname, ns, err)
	}
	return s
}
