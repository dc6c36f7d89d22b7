package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// remediationTOML is the [sync] lines the lab test puts in place of the
// lab configs' delayed_notification: a 100ms base, a patient dead time
// (two shared cores), and remediation with a 10ms lag threshold, doubling
// every second of pressure up to 1s.
const remediationTOML = `delayed_notification = "100ms"
heartbeat_interval = "50ms"
dead_count = 20

[sync.remediation]
enabled = true
lag_threshold = "10ms"
hold = "1s"
step = "2x"
max_delay = "1s"
`

// remediationConfig is member id's lab config with remediationTOML and
// its API on socket.
func remediationConfig(t *testing.T, id int, socket string) []byte {
	t.Helper()
	toml, err := config.DefaultTOMLFor(id)
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(`delayed_notification = "3s"` + "\n")
	if !bytes.Contains(toml, old) {
		t.Fatal("the lab config has no delayed_notification line to change")
	}
	return withAPISocket(t, bytes.Replace(toml, old, []byte(remediationTOML), 1), id, socket)
}

// TestRemediationOnARunningPair: gw2 stopped and resumed over and over
// puts gw1's sync lag above the 10ms threshold while connections are
// created through gw1; gw1 raises the delayed notification step by step,
// logs each step and syncstat shows them; once the traffic stops (calm),
// it comes back to the 100ms base.
func TestRemediationOnARunningPair(t *testing.T) {
	l := labtest.New(t, lab.Config{Queues: 2})
	dir := t.TempDir()
	ctl := buildTandemctl(t, dir)
	ctx := context.Background()
	sock1 := filepath.Join(dir, "gw1.sock")
	gw1 := startDaemon(t, "gw1", l.GW1, remediationConfig(t, 1, sock1))
	c1 := api.NewUnixClient(sock1)
	defer c1.Close()
	waitFor(t, "gw1 active", 30*time.Second, func() bool {
		s, err := c1.Status(ctx)
		return err == nil && s.Role == "active"
	})
	gw2 := startDaemon(t, "gw2", l.GW2, remediationConfig(t, 2, filepath.Join(dir, "gw2.sock")))
	waitFor(t, "gw2 alive to gw1", 30*time.Second, func() bool {
		st, err := c1.SyncStats(ctx)
		return err == nil && len(st.Peers) == 1 && st.Peers[0].Counters.PeerAlive
	})
	syncstat := func() string {
		out, err := exec.Command(ctl, "--socket", sock1, "syncstat").CombinedOutput()
		if err != nil {
			t.Fatalf("tandemctl syncstat: %v\n%s", err, out)
		}
		return lineOf(string(out), "delayed notification")
	}
	if line := syncstat(); !strings.Contains(line, "delayed notification 100ms (base 100ms; remediation on: no steps") {
		t.Fatalf("before any pressure: %q", line)
	}

	// Lag: gw2 stopped 150ms of every 200ms acknowledges late (the
	// lab's kernel has no netem); well within its 1s dead time.
	stall, stalled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stalled)
		for {
			_ = gw2.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(150 * time.Millisecond)
			_ = gw2.cmd.Process.Signal(syscall.SIGCONT)
			select {
			case <-stall:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	stopStall := sync.OnceFunc(func() { close(stall); <-stalled })
	defer stopStall()
	// A new ICMP connection (a new echo id) every few milliseconds.
	load := lab.Command(l.Client, "sh", "-c", fmt.Sprintf("while :; do ping -c 1 -W 1 %s >/dev/null; done", lab.ServerAddr))
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	stopLoad := func() { _ = load.Process.Kill(); _ = load.Wait() }
	defer stopLoad()
	var st api.DelayStatus
	waitFor(t, "the delay raised to 400ms or more", 40*time.Second, func() bool {
		s, err := c1.SyncStats(ctx)
		if err != nil || len(s.Peers) != 1 {
			return false
		}
		st = s.Peers[0].Delay
		return st.Delay >= 400*time.Millisecond
	})
	if st.StepsUp < 2 || st.LastStep == nil || !strings.Contains(st.LastStep.Reason, "lag p99") || st.Base != 100*time.Millisecond {
		t.Errorf("after the raises: %+v", st)
	}
	if !strings.Contains(gw1.text(), `msg="sync delay raised" from=100ms to=200ms reason="lag p99`) {
		t.Errorf("gw1 did not log the first step:\n%s", gw1.text())
	}
	if line := syncstat(); !strings.Contains(line, "(base 100ms; remediation on: ") || !strings.Contains(line, "steps up, 0 down, last: raised ") {
		t.Errorf("syncstat under pressure: %q", line)
	}

	stopLoad()
	stopStall()
	waitFor(t, "the delay back at 100ms", 40*time.Second, func() bool {
		s, err := c1.SyncStats(ctx)
		if err != nil || len(s.Peers) != 1 {
			return false
		}
		st = s.Peers[0].Delay
		return st.Delay == 100*time.Millisecond
	})
	if st.StepsDown != st.StepsUp {
		t.Errorf("back at the base after %d steps up and %d down", st.StepsUp, st.StepsDown)
	}
	if line := syncstat(); !strings.Contains(line, "delayed notification 100ms (base 100ms; remediation on: ") || !strings.Contains(line, "last: lowered 200ms→100ms") {
		t.Errorf("syncstat after the calm: %q", line)
	}
}
