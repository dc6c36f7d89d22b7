package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/control/api"
)

func TestTopRatesAndScreen(t *testing.T) {
	f, sock := fakeDaemon(t)
	e := &env{ctx: context.Background(), c: api.NewUnixClient(sock)}
	defer e.c.Close()
	prev, err := e.snapshot(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Forward(500, 750_000) // per worker: 500 packets, 750 kB in half a second
	f.Send(10, 2000, 0)
	cur, err := e.snapshot(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur.At = prev.At.Add(500 * time.Millisecond)
	cur.Rates = rates(prev, cur)
	r := cur.Rates["in0/1"]
	if r.RxPackets != 1000 || r.RxBits != 12e6 || r.TxPackets != 0 {
		t.Errorf("in0 queue 1: %+v, want 1000 rx packets/s, 12 Mbit/s, no tx", r)
	}
	if r := cur.Rates["out0/0"]; r.TxPackets != 1000 || r.RxPackets != 0 {
		t.Errorf("out0 queue 0: %+v, want 1000 tx packets/s", r)
	}
	screen := renderTop(prev, cur, 100, false)
	for _, want := range []string{
		"tandem top  gw1 (member 1) ACTIVE",
		"in0 queue 1              1k   12 Mbit/s          0      0 bit/s",
		"total                    2k   24 Mbit/s         2k   24 Mbit/s",
		"forwarded 2k/s",
		"TABLE  4 of 1,024 connections (0.4%)",
		"gw2 (2) alive  records 4k/s sent",
		"lag p50 300µs  p99 2ms  max 9ms",
		"policy                           15  0/s",
		"rx ring full 3",
	} {
		if !strings.Contains(squash(screen), squash(want)) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "\x1b") {
		t.Errorf("escape sequences in a screen for a pipe:\n%q", screen)
	}
}

// squash collapses runs of spaces, so that checks do not depend on column
// widths.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// openPTY opens a pseudo-terminal pair with /dev/ptmx.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 120}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// screenBuf collects what the program writes to the terminal.
type screenBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *screenBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *screenBuf) waitFor(t *testing.T, what string, n int, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Count(s.String(), what) >= n {
			return
		}
	}
	t.Fatalf("%q not shown %d times within %v:\n%q", what, n, d, s.String())
}

// TestTopUnderAPseudoTerminal runs tandemctl top as its own process on a
// pseudo-terminal, as an operator would, and quits it with q and with
// Ctrl-C: each time the screen must have been drawn and refreshed, the
// program must exit 0, leave the alternate screen, show the cursor again
// and give the terminal back in the mode it found it.
func TestTopUnderAPseudoTerminal(t *testing.T) {
	for _, key := range []struct{ name, b string }{{"q", "q"}, {"ctrl-c", "\x03"}} {
		t.Run(key.name, func(t *testing.T) {
			f, sock := fakeDaemon(t)
			master, slave := openPTY(t)
			before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if before.Lflag&(unix.ICANON|unix.ECHO) != unix.ICANON|unix.ECHO {
				t.Fatalf("a fresh pty is not canonical with echo: lflag %#x", before.Lflag)
			}
			var out screenBuf
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := master.Read(buf)
					out.mu.Lock()
					out.b.Write(buf[:n])
					out.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			cmd := exec.Command(os.Args[0], "--socket", sock, "top", "--interval", "200ms")
			cmd.Env = append(os.Environ(), "TANDEMCTL_MAIN=1")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			var waitErr error
			go func() { waitErr = cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})

			out.waitFor(t, "in0 queue 1", 1, 10*time.Second) // rates: a second screen was drawn
			f.Forward(1000, 1500)
			out.waitFor(t, "in0 queue 1", 3, 5*time.Second)
			during, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if during.Lflag&(unix.ICANON|unix.ECHO) != 0 {
				t.Errorf("top runs with the terminal canonical or echoing: lflag %#x", during.Lflag)
			}
			if _, err := master.Write([]byte(key.b)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
				if waitErr != nil {
					t.Errorf("top exited with %v after %s:\n%q", waitErr, key.name, out.String())
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("top still runs 5s after %s", key.name)
			}
			time.Sleep(100 * time.Millisecond) // let the reader take the last bytes
			screen := out.String()
			if !strings.HasPrefix(screen, altScreenOn) || !strings.Contains(screen, cursorHide) {
				t.Errorf("top did not switch to the alternate screen and hide the cursor: starts %q", screen[:min(len(screen), 40)])
			}
			tail := screen[strings.LastIndex(screen, "CORES"):]
			if !strings.Contains(tail, cursorShow) || !strings.Contains(tail, altScreenOff) {
				t.Errorf("after the last screen, no cursor shown or alternate screen left: %q", tail)
			}
			after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Cc != before.Cc {
				t.Errorf("terminal not restored: lflag %#x iflag %#x, was %#x %#x", after.Lflag, after.Iflag, before.Lflag, before.Iflag)
			}
		})
	}
}
