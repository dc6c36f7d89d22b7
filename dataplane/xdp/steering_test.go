package xdp_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// Crafted frames. Addresses do not matter to the program; lengths and
// protocol fields do.
func eth(ethertype uint16, rest ...byte) []byte {
	f := make([]byte, 12, 64)
	f = binary.BigEndian.AppendUint16(f, ethertype)
	return append(f, rest...)
}

func ipv4(proto byte, fragWord uint16, ihl int, l4 []byte) []byte {
	h := make([]byte, ihl*4)
	h[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)+len(l4)))
	binary.BigEndian.PutUint16(h[6:], fragWord)
	h[8], h[9] = 64, proto
	return append(h, l4...)
}

func ipv6(next byte, l4 []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
	h[6], h[7] = next, 64
	return append(h, l4...)
}

func udp(dport uint16) []byte {
	u := make([]byte, 8, 26)
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], 26)
	return append(u, make([]byte, 18)...)
}

func vlan(inner uint16, rest []byte) []byte {
	tag := []byte{0x00, 0x0a, byte(inner >> 8), byte(inner)}
	return eth(0x8100, append(tag, rest...)...)
}

const ethHeaderLen = 14

type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

func TestSteeringVerdicts(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	labtest.Do(t, l.B, func() error {
		steer, err := xdp.NewSteering(64)
		if err != nil {
			return err
		}
		defer steer.Close()
		u, err := xsk.NewUMEM(xsk.UMEMConfig{FrameCount: 64})
		if err != nil {
			return err
		}
		defer u.Close()
		s, err := xsk.Open(u, lab.IfPair, 0, xsk.Config{RxSize: 64, FillSize: 64, TxSize: -1, CompletionSize: 64})
		if err != nil {
			return err
		}
		defer s.Close()
		ifi, err := net.InterfaceByName(lab.IfPair)
		if err != nil {
			return err
		}
		// Slot 10 holds the socket; slot 20 stays empty. Which slot a
		// packet was sent to shows in REDIRECT (socket) versus PASS (empty).
		if err := steer.Register(10, s.FD()); err != nil {
			return err
		}
		steerTo := func(t *testing.T, dataBase, ccpBase uint32, flags uint32) {
			t.Helper()
			if err := steer.SetInterface(ifi.Index, xdp.InterfaceConfig{DataBase: dataBase, CCPBase: ccpBase, Flags: flags}); err != nil {
				t.Fatal(err)
			}
		}
		run := func(t *testing.T, ifindex int, frame []byte) uint32 {
			t.Helper()
			ret, err := steer.Program.Run(&ebpf.RunOptions{Data: frame, Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}})
			if err != nil {
				t.Fatalf("running program: %v", err)
			}
			return ret
		}
		const (
			toSocket = 10
			toEmpty  = 20
		)
		udp4 := eth(0x0800, ipv4(17, 0, 5, udp(9999))...)
		ccp4 := eth(0x0800, ipv4(17, 0, 5, udp(xdp.CCPPort))...)
		ccp4opts := eth(0x0800, ipv4(17, 0, 6, udp(xdp.CCPPort))...)
		ccp4frag := eth(0x0800, ipv4(17, 0x0010, 5, udp(xdp.CCPPort))...) // offset 16: a later fragment
		ccp6 := eth(0x86dd, ipv6(17, udp(xdp.CCPPort))...)
		tcp6 := eth(0x86dd, ipv6(6, make([]byte, 20))...)
		ns6 := eth(0x86dd, ipv6(58, append([]byte{135, 0}, make([]byte, 22)...))...)
		echo6 := eth(0x86dd, ipv6(58, append([]byte{128, 0}, make([]byte, 6)...))...)
		hbh6 := eth(0x86dd, ipv6(0, make([]byte, 16))...)
		arp := eth(0x0806, make([]byte, 28)...)
		vlanUDP := vlan(0x0800, ipv4(17, 0, 5, udp(9999)))
		// Frames to the gateway's own addresses.
		local4, local6 := netip.MustParseAddr("10.77.1.1"), netip.MustParseAddr("fd77:1::1")
		if err := steer.AddLocal(local4); err != nil {
			return err
		}
		if err := steer.AddLocal(local6); err != nil {
			return err
		}
		toLocal4 := bytes.Clone(udp4)
		copy(toLocal4[ethHeaderLen+16:], local4.AsSlice())
		ccpToLocal4 := bytes.Clone(ccp4)
		copy(ccpToLocal4[ethHeaderLen+16:], local4.AsSlice())
		toLocal6 := bytes.Clone(tcp6)
		copy(toLocal6[ethHeaderLen+24:], local6.AsSlice())
		srcLocal4 := bytes.Clone(udp4) // from a local address, to elsewhere: data
		copy(srcLocal4[ethHeaderLen+12:], local4.AsSlice())
		vlanCCP := vlan(0x0800, ipv4(17, 0, 5, udp(xdp.CCPPort)))

		cases := []struct {
			name            string
			dataBase, ccp   uint32
			flags           uint32
			frame           []byte
			want            uint32
			counter         int // -1: none expected
			ifindexOverride int
		}{
			{"ipv4 data to its socket", toSocket, toEmpty, xdp.SteerData, udp4, xdp.ActionRedirect, -1, 0},
			{"ipv4 data, empty slot passes", toEmpty, toEmpty, xdp.SteerData, udp4, xdp.ActionPass, -1, 0},
			{"ccp to the ccp socket", toEmpty, toSocket, xdp.SteerData | xdp.SteerCCP, ccp4, xdp.ActionRedirect, xdp.CountCCP, 0},
			{"ccp with ip options", toEmpty, toSocket, xdp.SteerCCP, ccp4opts, xdp.ActionRedirect, xdp.CountCCP, 0},
			{"ccp over ipv6", toEmpty, toSocket, xdp.SteerCCP, ccp6, xdp.ActionRedirect, xdp.CountCCP, 0},
			{"ccp in vlan", toEmpty, toSocket, xdp.SteerCCP, vlanCCP, xdp.ActionRedirect, xdp.CountCCP, 0},
			{"port 8116 is data where ccp is off", toSocket, toEmpty, xdp.SteerData, ccp4, xdp.ActionRedirect, -1, 0},
			{"later fragment is not ccp", toEmpty, toSocket, xdp.SteerCCP, ccp4frag, xdp.ActionPass, xdp.CountPassNotSteered, 0},
			{"other udp on the sync link to the kernel", toSocket, toSocket, xdp.SteerCCP, udp4, xdp.ActionPass, xdp.CountPassNotSteered, 0},
			{"vlan data", toSocket, toEmpty, xdp.SteerData, vlanUDP, xdp.ActionRedirect, -1, 0},
			{"ipv6 tcp data", toSocket, toEmpty, xdp.SteerData, tcp6, xdp.ActionRedirect, -1, 0},
			{"ipv6 echo is data", toSocket, toEmpty, xdp.SteerData, echo6, xdp.ActionRedirect, -1, 0},
			{"arp to the kernel", toSocket, toSocket, xdp.SteerData | xdp.SteerCCP, arp, xdp.ActionPass, xdp.CountPassNonIP, 0},
			{"neighbour solicitation to the kernel", toSocket, toSocket, xdp.SteerData, ns6, xdp.ActionPass, xdp.CountPassND, 0},
			{"hop-by-hop to the kernel", toSocket, toSocket, xdp.SteerData, hbh6, xdp.ActionPass, xdp.CountPassIPv6HopByHop, 0},
			{"truncated ipv4", toSocket, toSocket, xdp.SteerData, udp4[:30], xdp.ActionPass, xdp.CountPassMalformed, 0},
			{"truncated udp", toSocket, toSocket, xdp.SteerCCP, ccp4[:38], xdp.ActionPass, xdp.CountPassMalformed, 0},
			{"bad ihl", toSocket, toSocket, xdp.SteerCCP, eth(0x0800, ipv4(17, 0, 3, udp(xdp.CCPPort))...), xdp.ActionPass, xdp.CountPassMalformed, 0},
			{"ethernet only", toSocket, toSocket, xdp.SteerData, udp4[:14], xdp.ActionPass, xdp.CountPassMalformed, 0},
			{"interface not configured", toSocket, toSocket, xdp.SteerData, udp4, xdp.ActionPass, xdp.CountPassNoInterface, 1},
			{"ipv4 to a local address to the kernel", toSocket, toSocket, xdp.SteerData, toLocal4, xdp.ActionPass, xdp.CountPassLocal, 0},
			{"ipv6 to a local address to the kernel", toSocket, toSocket, xdp.SteerData, toLocal6, xdp.ActionPass, xdp.CountPassLocal, 0},
			{"ccp to a local address stays ccp", toEmpty, toSocket, xdp.SteerData | xdp.SteerCCP, ccpToLocal4, xdp.ActionRedirect, xdp.CountCCP, 0},
			{"from a local address is data", toSocket, toEmpty, xdp.SteerData, srcLocal4, xdp.ActionRedirect, -1, 0},
		}
		// Last: once an address is no longer local, its traffic is data
		// again (the filter and the map both forget it).
		defer func() {
			if err := steer.RemoveLocal(local4); err != nil {
				t.Fatal(err)
			}
			steerTo(t, toSocket, toEmpty, xdp.SteerData)
			if got := run(t, ifi.Index, toLocal4); got != xdp.ActionRedirect {
				t.Errorf("to a removed local address: verdict %d, want redirect", got)
			}
		}()
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				steerTo(t, c.dataBase, c.ccp, c.flags)
				before, err := steer.ReadCounters()
				if err != nil {
					t.Fatal(err)
				}
				ifindex := ifi.Index
				if c.ifindexOverride != 0 {
					ifindex = c.ifindexOverride // lo: no config for it
				}
				if got := run(t, ifindex, c.frame); got != c.want {
					t.Errorf("verdict %d, want %d", got, c.want)
				}
				after, _ := steer.ReadCounters()
				for i := range after {
					delta := after[i] - before[i]
					want := uint64(0)
					if i == c.counter {
						want = 1
					}
					if delta != want {
						t.Errorf("counter %s moved by %d, want %d", xdp.CounterName(i), delta, want)
					}
				}
			})
		}
		return nil
	})
}

func TestCeilingDropsAndCounts(t *testing.T) {
	labtest.Require(t)
	c, err := xdp.NewCeiling()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := eth(0x0800, ipv4(17, 0, 5, udp(9))...)
	ret, err := c.Program.Run(&ebpf.RunOptions{Data: frame, Repeat: 10})
	if err != nil {
		t.Fatal(err)
	}
	if ret != xdp.ActionDrop {
		t.Errorf("verdict %d, want drop", ret)
	}
	pkts, bytes, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if pkts != 10 || bytes != 10*uint64(len(frame)) {
		t.Errorf("counted %d packets, %d bytes; want 10, %d", pkts, bytes, 10*len(frame))
	}
}

func TestAttachNativeOnVethAndDetach(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	labtest.Do(t, l.B, func() error {
		steer, err := xdp.NewSteering(4)
		if err != nil {
			return err
		}
		mode, err := steer.Attach(lab.IfPair, xdp.AttachAuto)
		if err != nil {
			return err
		}
		if mode != xdp.AttachNative {
			t.Errorf("attached in %v mode on veth, want native", mode)
		}
		if !attached(t, lab.IfPair) {
			t.Error("no program on the interface after Attach")
		}
		// A second attach by the same process is refused, not stacked.
		if _, err := steer.Attach(lab.IfPair, xdp.AttachAuto); err == nil {
			t.Error("second attach succeeded")
		}
		if err := steer.Close(); err != nil {
			return err
		}
		if attached(t, lab.IfPair) {
			t.Error("program still attached after Close")
		}
		return nil
	})
}

func attached(t *testing.T, ifname string) bool {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached
}

// A program attached through netlink outlives its process: that is how a
// crashed Tandem of the legacy kind would leave one behind.
func TestRemoveStaleProgram(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	labtest.Do(t, l.B, func() error {
		stale, err := xdp.NewSteering(4)
		if err != nil {
			return err
		}
		link, err := netlink.LinkByName(lab.IfPair)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetXdpFdWithFlags(link, stale.Program.FD(), unix.XDP_FLAGS_DRV_MODE); err != nil {
			return err
		}
		stale.Close() // the program stays attached: its process "crashed"
		if !attached(t, lab.IfPair) {
			t.Fatal("legacy attach did not stick")
		}
		fresh, err := xdp.NewSteering(4)
		if err != nil {
			return err
		}
		defer fresh.Close()
		mode, err := fresh.Attach(lab.IfPair, xdp.AttachAuto)
		if err != nil {
			t.Fatalf("attach over a stale program: %v", err)
		}
		// Without the stale program's removal, native attach fails and
		// Attach falls back to generic beside it.
		if mode != xdp.AttachNative {
			t.Errorf("attached in %v mode, want native", mode)
		}
		info, err := fresh.Program.Info()
		if err != nil {
			return err
		}
		id, _ := info.ID()
		link, _ = netlink.LinkByName(lab.IfPair)
		if got := link.Attrs().Xdp.ProgId; got != uint32(id) {
			t.Errorf("interface runs program %d, want the fresh one %d", got, id)
		}
		return nil
	})
}

func TestForeignProgramLeftAlone(t *testing.T) {
	l := labtest.NewPair(t, lab.Config{Queues: 1})
	labtest.Do(t, l.B, func() error {
		foreign, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "someone_else", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdp.ActionPass), asm.Return()},
		})
		if err != nil {
			return err
		}
		defer foreign.Close()
		link, _ := netlink.LinkByName(lab.IfPair)
		if err := netlink.LinkSetXdpFdWithFlags(link, foreign.FD(), unix.XDP_FLAGS_DRV_MODE); err != nil {
			return err
		}
		steer, err := xdp.NewSteering(4)
		if err != nil {
			return err
		}
		defer steer.Close()
		_, err = steer.Attach(lab.IfPair, xdp.AttachAuto)
		if err == nil || !strings.Contains(err.Error(), "someone_else") {
			t.Errorf("attach over a foreign program: %v, want a refusal naming it", err)
		}
		if !attached(t, lab.IfPair) {
			t.Error("the foreign program was removed")
		}
		return nil
	})
}

func TestBadConfigRefused(t *testing.T) {
	labtest.Require(t)
	if _, err := xdp.NewSteering(0); err == nil {
		t.Error("zero slots accepted")
	}
	s, err := xdp.NewSteering(4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetInterface(1, xdp.InterfaceConfig{CCPPort: 70000}); err == nil {
		t.Error("port 70000 accepted")
	}
	if err := s.Register(9, 0); err == nil || errors.Is(err, nil) {
		t.Error("slot out of range accepted")
	}
	if _, err := xdp.ParseAttachMode("turbo"); err == nil {
		t.Error("attach mode turbo accepted")
	}
}
