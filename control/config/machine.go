package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine is what validation knows about the machine the config is for.
// Tests make one up; HostMachine reads the real one. A zero field means
// "unknown": the checks that need it are skipped.
type Machine struct {
	// CPUs are the cores tandemd may pin threads to, ascending. Nil: cores
	// are not checked against the machine.
	CPUs []int
	// PageSize is the memory page size in bytes, the largest UMEM frame.
	// Zero: frame sizes up to 65536 are accepted.
	PageSize int
	// HasInterface reports whether a network interface exists. Nil:
	// interfaces are not checked (the default of HostMachine, so that
	// tandemd -check works on a build host; the lab creates the interfaces
	// inside namespaces).
	HasInterface func(name string) bool
}

// HostMachine reads the running machine: the CPUs this process may run on
// (sched_getaffinity, or /sys/devices/system/cpu/online where that fails)
// and the page size. It leaves HasInterface nil; set it to HostHasInterface
// to check interfaces too.
func HostMachine() (Machine, error) {
	m := Machine{PageSize: os.Getpagesize()}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		for i := 0; i < len(set)*64; i++ {
			if set.IsSet(i) {
				m.CPUs = append(m.CPUs, i)
			}
		}
		if len(m.CPUs) > 0 {
			return m, nil
		}
	}
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return m, fmt.Errorf("reading the online CPUs: %w", err)
	}
	m.CPUs, err = parseCPUList(strings.TrimSpace(string(b)))
	if err != nil {
		return m, fmt.Errorf("reading the online CPUs: %w", err)
	}
	return m, nil
}

// HostHasInterface reports whether the named interface exists in this
// process's network namespace.
func HostHasInterface(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// parseCPUList parses the kernel's CPU list format: "0-3,8,10-11".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	if s == "" {
		return nil, errors.New("empty CPU list")
	}
	for _, part := range strings.Split(s, ",") {
		los, his, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(los)
		if err != nil || lo < 0 {
			return nil, fmt.Errorf("CPU list %q: bad entry %q", s, part)
		}
		hi := lo
		if isRange {
			hi, err = strconv.Atoi(his)
			if err != nil || hi < lo || hi-lo > 1<<16 {
				return nil, fmt.Errorf("CPU list %q: bad entry %q", s, part)
			}
		}
		for c := lo; c <= hi; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// formatCPUList writes ascending CPUs in the kernel's list format.
func formatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

func (m Machine) hasCPU(c int) bool {
	return slices.Contains(m.CPUs, c)
}
