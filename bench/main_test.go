package bench

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/tools/lab"
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
	return nil
}
