// Command xdpgen sends 64-byte (or larger) IPv4/UDP frames out of an
// interface at kernel speed, over many flows, with BPF_PROG_RUN live frames.
//
//	xdpgen -ns tdm-a -dev veth0 -dst-mac 02:..:.. -src 10.78.0.1 -dst 10.78.0.2 \
//	       -flows 1024 -count 10000000 -cpu 0
//
// The receiving side of a veth needs a native XDP program (or GRO on), or the
// kernel drops the frames silently.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"

	"github.com/dustin/go-humanize"
	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/xdpgen"
)

func main() {
	ns := flag.String("ns", "", "network namespace to send from (default: the current one)")
	dev := flag.String("dev", "", "interface to send out of (required)")
	dstMAC := flag.String("dst-mac", "", "destination MAC address (required)")
	src := flag.String("src", "", "source IPv4 address (required)")
	dst := flag.String("dst", "", "destination IPv4 address (required)")
	sport := flag.Uint("sport", 1024, "first UDP source port")
	dport := flag.Uint("dport", 4000, "first UDP destination port")
	flows := flag.Uint("flows", 1024, "distinct flows, 1..1048576")
	count := flag.Uint("count", 1000000, "frames to send, at most 4294967295")
	size := flag.Int("size", 64, "frame size in bytes")
	cpu := flag.Int("cpu", -1, "CPU to send from (-1: any)")
	flag.Parse()

	if err := run(*ns, *dev, *dstMAC, *src, *dst, uint16(*sport), uint16(*dport), uint32(*flows), uint32(*count), *size, *cpu); err != nil {
		fmt.Fprintln(os.Stderr, "xdpgen:", err)
		os.Exit(1)
	}
}

func run(ns, dev, dstMAC, src, dst string, sport, dport uint16, flows, count uint32, size, cpu int) error {
	if dev == "" || dstMAC == "" || src == "" || dst == "" {
		return fmt.Errorf("-dev, -dst-mac, -src and -dst are required")
	}
	mac, err := net.ParseMAC(dstMAC)
	if err != nil {
		return fmt.Errorf("-dst-mac: %w", err)
	}
	srcIP, err := netip.ParseAddr(src)
	if err != nil {
		return fmt.Errorf("-src: %w", err)
	}
	dstIP, err := netip.ParseAddr(dst)
	if err != nil {
		return fmt.Errorf("-dst: %w", err)
	}
	send := func() error {
		if cpu >= 0 {
			runtime.LockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				return fmt.Errorf("pinning to cpu %d: %w", cpu, err)
			}
		}
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		frame, err := xdpgen.UDP4Frame(nil, xdpgen.UDP4{DstMAC: mac, SrcMAC: ifi.HardwareAddr, Src: srcIP, Dst: dstIP, SrcPort: sport, DstPort: dport}, size, nil)
		if err != nil {
			return err
		}
		s, err := xdpgen.NewSender(dev, xdpgen.SenderConfig{Frame: frame, Flows: flows})
		if err != nil {
			return err
		}
		defer s.Close()
		d, err := s.Send(count)
		if err != nil {
			return err
		}
		fmt.Printf("sent %s frames of %d bytes over %s flows in %v: %s pps\n",
			humanize.Comma(int64(count)), size, humanize.Comma(int64(flows)), d, humanize.Comma(int64(float64(count)/d.Seconds())))
		return nil
	}
	if ns == "" {
		return send()
	}
	return lab.Do(ns, send)
}
