package bench

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// labs built by benchmarks, removed when the run ends.
var built []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range built {
		if err := lab.Down(p); err != nil {
			fmt.Fprintln(os.Stderr, "removing lab:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// pin locks the calling goroutine to its thread and the thread to cpu. The
// thread is not released: call it on a goroutine that ends with the work.
func pin(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu % runtime.NumCPU())
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pinning to cpu %d: %w", cpu, err)
	}
	// Nice -20 for the thread (Linux applies PRIO_PROCESS 0 to the calling
	// thread), standing in for the isolated core a production worker has:
	// other work on the machine then gets a slice rarely instead of every
	// few tens of milliseconds, and a slice of a millisecond is enough to
	// overflow a receiver's rings.
	if os.Getenv("BENCH_NO_NICE") == "" {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, -20); err != nil {
			return fmt.Errorf("raising priority on cpu %d: %w", cpu, err)
		}
	}
	return nil
}

// reserveProcs raises GOMAXPROCS for the rest of b (restored when it ends)
// so that each of the locked goroutines b runs (sync workers, the
// generator, the engine's worker, the sender) holds a P of its own and the
// runtime's other goroutines still have one per CPU, as tandemd does
// (cmd/tandemd reserveProcs). With one P per CPU, two spinning locked
// goroutines hold both Ps, and a third (the backup's sync worker beside
// the generator) waits for Go's 10 ms preemption: sync lag of milliseconds
// that is the benchmark's own.
func reserveProcs(b *testing.B, locked int) {
	prev := runtime.GOMAXPROCS(0)
	if want := runtime.NumCPU() + locked; prev < want {
		runtime.GOMAXPROCS(want)
		b.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
}

// workerNice is the engine workers' nice value: tandemd's default
// (cores.worker_nice), or 0 with BENCH_NO_NICE.
func workerNice() int {
	if os.Getenv("BENCH_NO_NICE") != "" {
		return 0
	}
	return -10
}

// sharedLab is a lab built once per benchmark process, on first use, and
// removed by TestMain.
type sharedLab struct {
	once sync.Once
	lab  *lab.Lab
	err  error
}

func (s *sharedLab) get(b *testing.B, up func(lab.Config) (*lab.Lab, error)) *lab.Lab {
	labtest.Require(b)
	s.once.Do(func() {
		p := labtest.Prefix()
		built = append(built, p)
		s.lab, s.err = up(lab.Config{Prefix: p, Queues: 1})
	})
	if s.err != nil {
		b.Fatalf("building lab: %v", s.err)
	}
	return s.lab
}

// attachCeiling attaches the XDP_DROP counter to ifname in namespace ns.
func attachCeiling(b *testing.B, ns, ifname string) *xdp.Ceiling {
	var c *xdp.Ceiling
	err := lab.Do(ns, func() (err error) {
		if c, err = xdp.NewCeiling(); err != nil {
			return err
		}
		_, err = c.Attach(ifname, xdp.AttachNative)
		return err
	})
	if err != nil {
		b.Fatalf("XDP_DROP counter on %s in %s: %v", ifname, ns, err)
	}
	return c
}
