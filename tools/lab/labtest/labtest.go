// Package labtest gives tests and benchmarks a lab of their own: a unique
// prefix, the topology, and a cleanup registered before anything is built, so
// the namespaces go even when the test fails or panics.
//
// Privileged tests call [Require] (New and NewPair do) first. Outside CI a
// missing capability skips the test with its reason; in CI (CI=true) it fails
// the test, because a skipped privileged test there proves nothing.
package labtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/tools/lab"
)

// InCI reports whether the test runs in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

var (
	probeOnce sync.Once
	probeErr  error
)

// probe checks once what the privileged tests need: root, network
// namespaces, and AF_XDP sockets.
func probe() error {
	probeOnce.Do(func() {
		if os.Geteuid() != 0 {
			probeErr = fmt.Errorf("needs root (euid %d)", os.Geteuid())
			return
		}
		fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			probeErr = fmt.Errorf("cannot create an AF_XDP socket: %w", err)
			return
		}
		unix.Close(fd)
		removeStale()
		name := "tdmprobe" + randHex(3) + "-x"
		l, err := lab.UpPair(lab.Config{Prefix: name[:len(name)-2], Queues: 1})
		if err != nil {
			probeErr = fmt.Errorf("cannot build a namespace lab: %w", err)
			return
		}
		if err := l.Down(); err != nil {
			probeErr = fmt.Errorf("cannot remove a namespace lab: %w", err)
		}
	})
	return probeErr
}

// Require skips tb outside CI, and fails it in CI, unless the machine lets
// it build labs and open AF_XDP sockets.
func Require(tb testing.TB) {
	tb.Helper()
	if err := probe(); err != nil {
		if InCI() {
			tb.Fatalf("privileged test cannot run in CI: %v", err)
		}
		tb.Skipf("skipping privileged test: %v (runs in CI, where CI=true makes this a failure)", err)
	}
}

// Prefix returns a fresh lab prefix: t<pid>x<random>, so that a later run
// can tell the labs of a process that died (a panic skips t.Cleanup) and
// remove them.
func Prefix() string { return fmt.Sprintf("t%dx%s", os.Getpid(), randHex(2)) }

var staleOnce sync.Once

// removeStale removes the labs of test processes that are gone.
func removeStale() {
	staleOnce.Do(func() {
		entries, _ := os.ReadDir("/var/run/netns")
		for _, e := range entries {
			prefix, _, ok := strings.Cut(e.Name(), "-")
			if !ok || len(prefix) < 4 || prefix[0] != 't' {
				continue
			}
			pidStr, _, ok := strings.Cut(prefix[1:], "x")
			pid, err := strconv.Atoi(pidStr)
			if !ok || err != nil {
				continue
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				continue // its process still runs
			}
			_ = lab.Down(prefix)
		}
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// New builds the full lab for tb and removes it when tb ends.
func New(tb testing.TB, cfg lab.Config) *lab.Lab {
	tb.Helper()
	return build(tb, cfg, lab.Up)
}

// NewPair builds a pair lab for tb and removes it when tb ends.
func NewPair(tb testing.TB, cfg lab.Config) *lab.Lab {
	tb.Helper()
	return build(tb, cfg, lab.UpPair)
}

// NewChain builds a chain lab for tb and removes it when tb ends.
func NewChain(tb testing.TB, cfg lab.Config) *lab.Lab {
	tb.Helper()
	return build(tb, cfg, lab.UpChain)
}

func build(tb testing.TB, cfg lab.Config, up func(lab.Config) (*lab.Lab, error)) *lab.Lab {
	tb.Helper()
	Require(tb)
	cfg.Prefix = Prefix()
	tb.Cleanup(func() {
		if err := lab.Down(cfg.Prefix); err != nil {
			tb.Errorf("removing lab: %v", err)
		}
	})
	l, err := up(cfg)
	if err != nil {
		tb.Fatalf("building lab: %v", err)
	}
	return l
}

// Do runs fn inside namespace ns and fails tb on error.
func Do(tb testing.TB, ns string, fn func() error) {
	tb.Helper()
	if err := lab.Do(ns, fn); err != nil {
		tb.Fatalf("in %s: %v", ns, err)
	}
}
