package ring_test

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// allowedCPUs lists the CPUs this process may run on, in order.
var allowedCPUs = func() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return []int{0}
	}
	var cpus []int
	for cpu := range 1024 {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}()

// pinToCPU locks the calling goroutine to its OS thread and that thread to
// the i-th allowed CPU (modulo their number). unpin undoes both and must be
// called on the same goroutine.
func pinToCPU(i int) (unpin func(), err error) {
	cpu := allowedCPUs[i%len(allowedCPUs)]
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("reading the affinity of this thread: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil { // 0: the calling thread
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("pinning this thread to CPU %d: %w", cpu, err)
	}
	return func() {
		_ = unix.SchedSetaffinity(0, &old) // best effort: the thread goes back to the pool
		runtime.UnlockOSThread()
	}, nil
}

// mustPin is pinToCPU for goroutines that cannot fail a test: on error it
// runs unpinned, which tests correctness just as well, and reports why.
func mustPin(i int, report func(format string, args ...any)) (unpin func()) {
	unpin, err := pinToCPU(i)
	if err != nil {
		report("running unpinned: %v", err)
		return func() {}
	}
	return unpin
}

// backoff paces a goroutine that found the ring full or empty: it spins, and
// every yieldEvery failed tries (if set) yields its P so that goroutines
// sharing a CPU make progress. The tests, which run more spinning goroutines
// than CPUs, yield; the benchmarks give each spinning goroutine a CPU and a P
// of its own and only spin, since a locked goroutine's Gosched costs a thread
// hand-off (futex sleep and wake-up) that would dwarf what they measure; the
// runtime's preemption still keeps everything live.
type backoff struct{ tries, yieldEvery int }

func (b *backoff) wait() {
	b.tries++
	if b.yieldEvery > 0 && b.tries%b.yieldEvery == 0 {
		runtime.Gosched()
	}
}

func (b *backoff) reset() { b.tries = 0 }
