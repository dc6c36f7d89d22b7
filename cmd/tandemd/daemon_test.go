package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/tools/lab"
)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// daemonBinary builds tandemd once per test run, without the race
// detector even when the tests have it: the failover tests time
// heartbeats and traffic gaps, and judge the binary operators run, which
// the race detector would slow several times over.
func daemonBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tandemd-bin")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "tandemd")
		out, err := exec.Command("go", "build", "-o", built, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building tandemd: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// daemon is a tandemd process in a lab namespace, its log collected.
type daemon struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	more chan struct{} // closed and replaced at each new line
	done chan struct{} // closed when stderr ends
}

// startDaemon writes cfg to a file and runs tandemd -config on it in ns,
// with extra environment variables env. The process is killed when the
// test ends.
func startDaemon(t testing.TB, name, ns string, cfg []byte, env ...string) *daemon {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".toml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(env, daemonBinary(t), "-config", path)
	d := &daemon{t: t, name: name, cmd: tandemdEnv(ns, args...), more: make(chan struct{}), done: make(chan struct{})}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
		_ = d.cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", d.name, d.text())
		}
	})
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log = append(d.log, sc.Text())
			close(d.more)
			d.more = make(chan struct{})
			d.mu.Unlock()
		}
	}()
	return d
}

func tandemdEnv(ns string, args ...string) *exec.Cmd { return lab.Command(ns, "env", args...) }

func (d *daemon) text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.log, "\n")
}

// waitFor waits until a log line from index from on contains every one of
// parts, and returns the index after it.
func (d *daemon) waitFor(from int, timeout time.Duration, parts ...string) int {
	d.t.Helper()
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		for i := from; i < len(d.log); i++ {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(d.log[i], p)
			}
			if ok {
				d.mu.Unlock()
				return i + 1
			}
		}
		more := d.more
		d.mu.Unlock()
		select {
		case <-more:
		case <-d.done:
			d.t.Fatalf("%s exited while waiting for %q:\n%s", d.name, parts, d.text())
		case <-deadline:
			d.t.Fatalf("%s: no log line with %q within %v:\n%s", d.name, parts, timeout, d.text())
		}
	}
}

// lines returns how many lines the log holds.
func (d *daemon) lines() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.log)
}

// logFrom returns the log lines from index from on.
func (d *daemon) logFrom(from int) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log[from:]...)
}
