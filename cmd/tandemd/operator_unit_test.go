package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// unitCapabilities reads CapabilityBoundingSet from the packaged systemd
// unit, as setpriv names them (net_admin, ...).
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "tandemd.service"))
	if err != nil {
		t.Fatal(err)
	}
	var caps, ambient []string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			caps = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "AmbientCapabilities="); ok {
			ambient = strings.Fields(v)
		}
	}
	if len(caps) == 0 || strings.Join(caps, " ") != strings.Join(ambient, " ") {
		t.Fatalf("the unit's bounding set %v and ambient set %v must be given and equal", caps, ambient)
	}
	for i, c := range caps {
		caps[i] = strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return caps
}

// runWithCaps runs tandemd -config in ns with exactly caps (bounding,
// inheritable and ambient sets) and a 64 KiB memlock limit, until it logs
// that the gateway runs (true) or exits (false).
func runWithCaps(t *testing.T, ns, cfgPath string, caps []string) (running bool, cmd *exec.Cmd, log func() string) {
	t.Helper()
	set := "-all"
	for _, c := range caps {
		set += ",+" + c
	}
	cmd = lab.Command(ns, "prlimit", "--memlock=65536:65536", "setpriv", "--bounding-set", set, "--inh-caps", set, "--ambient-caps", set,
		"--", "env", "TANDEMD_MAIN=1", os.Args[0], "-config", cfgPath)
	out := &lockedBuffer{}
	log = out.String
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(log(), "gateway running") {
			return true, cmd, log
		}
		select {
		case <-exited:
			return false, cmd, log
		default:
		}
	}
	t.Fatalf("tandemd with %v neither ran nor exited within 20s:\n%s", caps, log())
	return false, cmd, log
}

// lockedBuffer collects a process's output for reading while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUnitCapabilitiesAreEnoughAndEachIsNeeded runs tandemd as the
// packaged unit would, with only the unit's capabilities: it must start,
// forward and stop cleanly. Then it takes each capability away in turn
// (CAP_BPF excepted: CAP_SYS_ADMIN implies it today): tandemd must not
// start, which shows the unit asks for nothing it does not use.
func TestUnitCapabilitiesAreEnoughAndEachIsNeeded(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		if labtest.InCI() {
			t.Fatal("setpriv (util-linux) is missing")
		}
		t.Skip("setpriv (util-linux) is missing")
	}
	caps := unitCapabilities(t)
	l := labtest.New(t, lab.Config{Queues: 2})
	dir := t.TempDir()
	toml, err := config.DefaultTOMLFor(1)
	if err != nil {
		t.Fatal(err)
	}
	toml = withAPISocket(t, toml, 1, filepath.Join(dir, "gw1.sock"))
	cfgPath := filepath.Join(dir, "gw1.toml")
	if err := os.WriteFile(cfgPath, toml, 0o644); err != nil {
		t.Fatal(err)
	}

	running, cmd, log := runWithCaps(t, l.GW1, cfgPath, caps)
	if !running {
		t.Fatalf("tandemd does not start with the unit's capabilities %v:\n%s", caps, log())
	}
	// Alone, gw1 takes the active role and claims the VIP after its peer
	// timeout; then traffic must pass.
	var ping []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if ping, err = lab.Command(l.Client, "ping", "-c", "1", "-W", "1", lab.ServerAddr.String()).CombinedOutput(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ping through tandemd with the unit's capabilities: %v\n%s\n%s", err, ping, log())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(log(), "stopped cleanly"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no clean stop with the unit's capabilities:\n%s", log())
		}
	}
	if xdpAttached(t, l.GW1, lab.IfInside) {
		t.Error("XDP program left on in0 after the stop")
	}

	for _, drop := range caps {
		if drop == "bpf" {
			continue
		}
		var less []string
		for _, c := range caps {
			if c != drop {
				less = append(less, c)
			}
		}
		if running, _, log := runWithCaps(t, l.GW1, cfgPath, less); running {
			t.Errorf("tandemd starts without CAP_%s: the unit need not grant it\n%s", strings.ToUpper(drop), log())
		}
	}
}
