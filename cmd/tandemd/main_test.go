package main

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// TestMain lets the test binary run as tandemd itself (TANDEMD_MAIN=1), so
// tests can start the daemon as a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv("TANDEMD_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func tandemd(ns string, args ...string) *exec.Cmd {
	cmd := lab.Command(ns, "env", append([]string{"TANDEMD_MAIN=1", os.Args[0]}, args...)...)
	return cmd
}

func xdpAttached(t *testing.T, ns, ifname string) bool {
	var on bool
	labtest.Do(t, ns, func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		on = l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached
		return nil
	})
	return on
}

func hasAddr(t *testing.T, ns, ifname string, a netip.Addr) bool {
	var found bool
	labtest.Do(t, ns, func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		for _, x := range addrs {
			found = found || x.IP.Equal(a.AsSlice())
		}
		return err
	})
	return found
}

func TestDaemonRunsAndStopsCleanlyOnSIGTERM(t *testing.T) {
	l := labtest.New(t, lab.Config{Queues: 2})
	path := filepath.Join(t.TempDir(), "gw1.toml")
	if err := os.WriteFile(path, config.DefaultTOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := tandemd(l.GW1, "-config", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	running := false
	for deadline := time.After(15 * time.Second); !running; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("tandemd exited before running:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, line)
			running = strings.Contains(line, "to=active") // alone, it becomes active after the startup wait
		case <-deadline:
			t.Fatalf("tandemd did not start:\n%s", strings.Join(log, "\n"))
		}
	}
	for _, ifname := range []string{lab.IfInside, lab.IfOutside} {
		if !xdpAttached(t, l.GW1, ifname) {
			t.Errorf("no XDP program on %s while tandemd runs", ifname)
		}
	}
	if !hasAddr(t, l.GW1, lab.IfInside, lab.InsideVIP) || !hasAddr(t, l.GW1, lab.IfOutside, lab.SNATAddr) {
		t.Error("VIP or SNAT address not claimed while tandemd runs")
	}
	// Traffic goes through it.
	if out, err := lab.Command(l.Client, "ping", "-c", "2", "-i", "0.2", "-W", "2", lab.ServerAddr.String()).CombinedOutput(); err != nil {
		t.Errorf("ping through tandemd: %v\n%s", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		log = append(log, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tandemd exited with %v after SIGTERM:\n%s", err, strings.Join(log, "\n"))
	}
	if !strings.Contains(strings.Join(log, "\n"), "stopped cleanly") {
		t.Errorf("no clean stop in the log:\n%s", strings.Join(log, "\n"))
	}
	for _, ifname := range []string{lab.IfInside, lab.IfOutside} {
		if xdpAttached(t, l.GW1, ifname) {
			t.Errorf("XDP program left on %s after SIGTERM", ifname)
		}
	}
	if hasAddr(t, l.GW1, lab.IfInside, lab.InsideVIP) || hasAddr(t, l.GW1, lab.IfOutside, lab.SNATAddr) {
		t.Error("claimed addresses left after SIGTERM")
	}
}

func TestCheckRefusesABadFile(t *testing.T) {
	labtest.Require(t)
	path := filepath.Join(t.TempDir(), "bad.toml")
	bad := bytes.Replace(config.DefaultTOML(), []byte("core = 1,"), []byte("core = 7,"), 1)
	if bytes.Equal(bad, config.DefaultTOML()) {
		t.Fatal("test did not change the config")
	}
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-check", path)
	cmd.Env = append(os.Environ(), "TANDEMD_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("-check accepted a worker on core 7 of a %d-core machine:\n%s", len(mustMachine(t).CPUs), out)
	}
	if !strings.Contains(string(out), "cores.workers[0].core") || !strings.Contains(string(out), "7") {
		t.Errorf("-check output does not name the key and value:\n%s", out)
	}
}

func mustMachine(t *testing.T) config.Machine {
	m, err := config.HostMachine()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPlanFromDefaultConfig(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	p, err := planFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.engine.Inside.Name != "in0" || p.engine.Outside.Name != "out0" || p.engine.Queues != 2 {
		t.Errorf("engine interfaces %+v %+v queues %d", p.engine.Inside, p.engine.Outside, p.engine.Queues)
	}
	if p.engine.Cores[0] != 1 || p.engine.Cores[1] != 1 {
		t.Errorf("cores %v, want both queues on core 1", p.engine.Cores)
	}
	if p.engine.Inside.Addr4 != lab.InsideVIP {
		t.Errorf("ICMP errors from %v, want the VIP %v", p.engine.Inside.Addr4, lab.InsideVIP)
	}
	if len(p.table.SNAT) != 1 || p.table.SNAT[0].Addrs[0] != lab.SNATAddr || p.table.SNAT[0].PreservePort {
		t.Errorf("SNAT pools %+v", p.table.SNAT)
	}
	if p.engine.Policy.SNAT != 0 || p.engine.Policy.SNAT6 != -1 || !p.engine.Policy.AllowFromInside {
		t.Errorf("policy %+v", p.engine.Policy)
	}
	// The SNAT address is claimed on the outside but is not "local": its
	// return traffic belongs to the engine.
	for _, a := range p.engine.Local {
		if a == lab.SNATAddr {
			t.Error("SNAT address listed as local: replies would go to the kernel")
		}
	}
}
