package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
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

// opDaemon is a tandemd of the operator test, its log collected.
type opDaemon struct {
	name, socket string
	cmd          *exec.Cmd
	mu           sync.Mutex
	log          bytes.Buffer
	done         chan struct{}
}

func (d *opDaemon) text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// startOpDaemon runs tandemd -config in ns on member id's lab config with
// its API on a socket in dir, delayed notifications off (every connection
// is synced at once), a 1s dead time and metrics on metricsAddr in ns.
func startOpDaemon(t *testing.T, ns, dir string, id int, metricsAddr string) *opDaemon {
	t.Helper()
	toml, err := config.DefaultTOMLFor(id)
	if err != nil {
		t.Fatal(err)
	}
	d := &opDaemon{name: fmt.Sprintf("gw%d", id), socket: filepath.Join(dir, fmt.Sprintf("gw%d.sock", id)), done: make(chan struct{})}
	// A peer is dead after 1s of silence rather than the default 100ms:
	// the test shares two cores with everything else, and a stalled sync
	// worker must not make the pair swap roles in the middle of it.
	toml = bytes.Replace(toml, []byte(`delayed_notification = "3s"`), []byte("delayed_notification = \"0s\"\nheartbeat_interval = \"50ms\"\ndead_count = 20"), 1)
	if !bytes.Contains(toml, []byte(`delayed_notification = "0s"`)) {
		t.Fatal("the lab config has no delayed_notification line to change")
	}
	toml = withAPISocket(t, toml, id, d.socket)
	toml = append(toml, fmt.Sprintf("\n[metrics]\nlisten = %q\n", metricsAddr)...)
	path := filepath.Join(dir, d.name+".toml")
	if err := os.WriteFile(path, toml, 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd = lab.Command(ns, "env", "TANDEMD_MAIN=1", os.Args[0], "-config", path)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
		_ = d.cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", d.name, d.text())
		}
	})
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *opDaemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not stop within 20s of SIGTERM", d.name)
	}
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("%s exited with %v after SIGTERM", d.name, err)
	}
	if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
		t.Errorf("%s left its API socket behind: %v", d.name, err)
	}
}

// waitFor polls cond every 100ms until it holds or d passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// buildTandemctl builds the CLI the test runs.
func buildTandemctl(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tandemctl")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tandem-gw/tandem/cmd/tandemctl").CombinedOutput()
	if err != nil {
		t.Fatalf("building tandemctl: %v\n%s", err, out)
	}
	return bin
}

// scrape fetches /metrics from addr inside ns (HTTP/1.0 on a connection
// opened in the namespace).
func scrape(t *testing.T, ns, addr string) string {
	t.Helper()
	var body []byte
	labtest.Do(t, ns, func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\nHost: tandemd\r\nAccept: text/plain\r\n\r\n"); err != nil {
			return err
		}
		body, err = io.ReadAll(c)
		return err
	})
	return string(body)
}

// TestOperatorCommandsAgainstARunningPair runs gw1 and gw2 in the lab with
// the API on, sends traffic through gw1, and runs every tandemctl command
// against them: each output is checked, and the sync figures of the two
// sides must agree once the link is idle.
func TestOperatorCommandsAgainstARunningPair(t *testing.T) {
	l := labtest.New(t, lab.Config{Queues: 2})
	dir := t.TempDir()
	ctl := buildTandemctl(t, dir)
	ctx := context.Background()
	capture := startSyncCapture(t, l.GW2, dir)
	// gw1 first, so that it is active (no preemption: the first up wins).
	gw1 := startOpDaemon(t, l.GW1, dir, 1, "127.0.0.1:9116")
	c1 := api.NewUnixClient(gw1.socket)
	defer c1.Close()
	waitFor(t, "gw1 active", 30*time.Second, func() bool {
		s1, err := c1.Status(ctx)
		return err == nil && s1.Role == "active"
	})
	gw2 := startOpDaemon(t, l.GW2, dir, 2, "")
	c2 := api.NewUnixClient(gw2.socket)
	defer c2.Close()

	run := func(sock string, args ...string) (string, error) {
		cmd := exec.Command(ctl, append([]string{"--socket", sock}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out), fmt.Errorf("%w: %s", err, stderr.String())
		}
		return string(out), nil
	}
	mustRun := func(sock string, args ...string) string {
		t.Helper()
		out, err := run(sock, args...)
		if err != nil {
			t.Fatalf("tandemctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	want := func(out string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(out, p) {
				t.Errorf("output lacks %q:\n%s", p, out)
			}
		}
	}

	waitFor(t, "gw1 active and gw2 backup, in sync", 30*time.Second, func() bool {
		s1, err1 := c1.Status(ctx)
		s2, err2 := c2.Status(ctx)
		return err1 == nil && err2 == nil && s1.Role == "active" && s2.Role == "backup"
	})

	// Traffic through gw1: ICMP echo and a TCP transfer, each a connection.
	if out, err := lab.Command(l.Client, "ping", "-c", "3", "-i", "0.2", "-W", "2", lab.ServerAddr.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping through gw1: %v\n%s", err, out)
	}
	iperf := lab.Command(l.Server, "iperf3", "-s", "-1", "-p", "5201")
	if err := iperf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = iperf.Process.Kill(); _ = iperf.Wait() }()
	time.Sleep(300 * time.Millisecond)
	if out, err := lab.Command(l.Client, "iperf3", "-c", lab.ServerAddr.String(), "-p", "5201", "-n", "20M").CombinedOutput(); err != nil {
		t.Fatalf("iperf3 through gw1: %v\n%s", err, out)
	}

	// Idle: neither member has anything queued or unacknowledged. Under
	// CPU contention the pair may flap and the traffic go through gw2 for
	// a while, so the checks hold for both directions: each member
	// accounts for every record it received, without retransmissions each
	// received exactly what the other sent, and each holds every
	// connection the other owns.
	var x, y api.PeerSync
	waitFor(t, "the sync link idle", 60*time.Second, func() bool {
		a, err1 := c1.SyncStats(ctx)
		b, err2 := c2.SyncStats(ctx)
		if err1 != nil || err2 != nil || len(a.Peers) != 1 || len(b.Peers) != 1 {
			return false
		}
		x, y = a.Peers[0], b.Peers[0]
		// Read gw1 again: a record sent between the two reads (a
		// keepalive, an adoption) would make the pair look inconsistent.
		a2, err := c1.SyncStats(ctx)
		if err != nil || len(a2.Peers) != 1 || a2.Peers[0].Counters.RecordsSent != x.Counters.RecordsSent ||
			a2.Peers[0].Counters.RecordsReceived != x.Counters.RecordsReceived {
			return false
		}
		return x.Counters.QueueDepth == 0 && x.Counters.InFlight == 0 && y.Counters.QueueDepth == 0 && y.Counters.InFlight == 0 &&
			x.Counters.RecordsSent+y.Counters.RecordsSent > 0
	})
	for _, p := range []struct {
		name     string
		from, to api.PeerSync
	}{{"gw1", y, x}, {"gw2", x, y}} {
		c := p.to.Counters
		if c.Applied+c.ApplyStale+c.ApplyConflict+c.ApplyFull != c.RecordsReceived {
			t.Errorf("%s received %d records but accounts for %d applied, %d stale, %d in conflict, %d refused",
				p.name, c.RecordsReceived, c.Applied, c.ApplyStale, c.ApplyConflict, c.ApplyFull)
		}
		if x.Counters.Retransmits == 0 && y.Counters.Retransmits == 0 && p.from.Counters.RecordsSent != c.RecordsReceived {
			t.Errorf("no retransmission, yet %d records were sent to %s and it received %d", p.from.Counters.RecordsSent, p.name, c.RecordsReceived)
		}
	}
	if x.Counters.Applied+y.Counters.Applied == 0 {
		t.Error("no member applied a record")
	}
	tables := [2]map[string]api.Conn{}
	for i, c := range []*api.Client{c1, c2} {
		tables[i] = map[string]api.Conn{}
		q := api.ConnQuery{Limit: api.MaxConnLimit}
		for { // a page walks a bounded part of the table: follow the cursor
			page, err := c.Conns(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, cn := range page.Conns {
				tables[i][fmt.Sprintf("%s %s:%d %s:%d", cn.Proto, cn.Src, cn.SrcPort, cn.Dst, cn.DstPort)] = cn
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	owned := 0
	for i := range tables {
		for k, cn := range tables[i] {
			if cn.Owner != i+1 {
				continue
			}
			owned++
			if _, ok := tables[1-i][k]; !ok {
				t.Errorf("gw%d's connection %s (%s) is not on gw%d", i+1, k, cn.State, 2-i)
			}
		}
	}
	if owned == 0 {
		t.Error("no member owns a connection after the traffic")
	}
	// Contention can make the pair flap; the commands below expect the
	// roles of the start.
	waitFor(t, "gw1 active and gw2 backup again", 30*time.Second, func() bool {
		s1, err1 := c1.Status(ctx)
		s2, err2 := c2.Status(ctx)
		return err1 == nil && err2 == nil && s1.Role == "active" && s2.Role == "backup"
	})

	out := mustRun(gw1.socket, "status")
	want(out, "gw1 (member 1 of cluster 1): active", "in0      inside   2 queues", "connections: ")
	out = mustRun(gw1.socket, "members")
	want(out, "gw1 (this)", "gw2", "backup", "10.77.3.2")
	out = mustRun(gw1.socket, "syncstat")
	want(out, "peer gw2 (member 2): alive", "  records ")
	if line := strings.Fields(lineOf(out, "  records ")); len(line) != 3 || line[1] == "0" && line[2] == "0" {
		t.Errorf("gw1 syncstat records row %q: want records sent or received", line)
	}
	out2 := mustRun(gw2.socket, "syncstat")
	t.Logf("gw1 syncstat:\n%s\ngw2 syncstat:\n%s", out, out2)
	want(out2, "peer gw1 (member 1): alive")
	out = mustRun(gw1.socket, "conns", "--proto", "tcp", "--port", "5201")
	want(out, lab.ServerAddr.String()+":5201", "snat "+lab.SNATAddr.String(), "shown")
	out = mustRun(gw2.socket, "conns", "--proto", "icmp")
	want(out, "icmp", lab.ServerAddr.String(), "shown")
	if strings.Contains(out, "0 connections shown") {
		t.Errorf("gw2 (backup) holds no ICMP connection:\n%s", out)
	}
	out = mustRun(gw1.socket, "--json", "top", "-n", "2", "--interval", "500ms")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 {
		t.Errorf("top --json -n 2: %d lines", len(lines))
	} else {
		var snap struct {
			Status api.Status
			Rates  map[string]any
		}
		if err := json.Unmarshal([]byte(lines[1]), &snap); err != nil || snap.Status.Name != "gw1" || len(snap.Rates) != 4 {
			t.Errorf("top snapshot: %v, %+v", err, snap)
		}
	}
	out = mustRun(gw1.socket, "set", "sync.max_bandwidth", "800Mbit")
	want(out, "sync.max_bandwidth = 800Mbit (was 0)")
	if out, err := run(gw1.socket, "set", "sync.max_bandwidth", "800Mbps"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("set 800Mbps: %v\n%s", err, out)
	}
	out = mustRun(gw1.socket, "set", "sync.delayed_notification", "2500ms")
	want(out, "sync.delayed_notification = 2.5s (was")
	if out, err := run(gw1.socket, "set", "sync.delayed_notification", "1h"); err == nil || !strings.Contains(err.Error(), "0 to 10m") {
		t.Errorf("set the delay to 1h: %v\n%s, want a refusal naming the range", err, out)
	}
	out = mustRun(gw1.socket, "syncstat", "--reset")
	want(out, "counters reset")
	out = mustRun(gw1.socket, "config", "check", filepath.Join(dir, "gw1.toml"))
	want(out, "config OK")

	// The dissector reads the sync link as captured.
	checkSyncCapture(t, capture)

	// Every syncstat figure is in gw1's metrics.
	metricsText := scrape(t, l.GW1, "127.0.0.1:9116")
	for _, f := range api.SyncFields {
		if !strings.Contains(metricsText, "\n"+f.Metric+"{") {
			t.Errorf("metric %s (%s) not in the scrape", f.Metric, f.Path)
		}
	}
	want(metricsText, `tandem_rx_packets_total{interface="in0",queue="0"}`, "tandem_sync_lag_seconds_count")

	// Planned failover: gw2 takes over.
	out = mustRun(gw1.socket, "failover")
	want(out, "failover: active -> ")
	waitFor(t, "gw2 active after the failover", 10*time.Second, func() bool {
		s2, err := c2.Status(ctx)
		return err == nil && s2.Role == "active"
	})
	out = mustRun(gw2.socket, "members")
	want(out, "gw2 (this)")
	if line := lineOf(out, "gw2 (this)"); !strings.Contains(line, "active") {
		t.Errorf("gw2 not active in members: %q", line)
	}
	if out, err := run(gw1.socket, "failover"); err == nil || !strings.Contains(err.Error(), "not active") {
		t.Errorf("failover of the backup: %v\n%s", err, out)
	}

	gw1.stop(t)
	gw2.stop(t)
	if out, err := run(gw1.socket, "status"); err == nil || !strings.Contains(err.Error(), "cannot reach tandemd") {
		t.Errorf("status after stop: %v\n%s", err, out)
	}
}

// syncCapture is dumpcap writing the lab's sync link to a file.
type syncCapture struct {
	cmd  *exec.Cmd
	path string
}

// startSyncCapture captures UDP 8116 on the sync link in ns, or returns
// nil when tshark's dumpcap is missing (a failure under CI=true).
func startSyncCapture(t *testing.T, ns, dir string) *syncCapture {
	t.Helper()
	if _, err := exec.LookPath("dumpcap"); err != nil {
		if labtest.InCI() {
			t.Fatal("dumpcap (tshark) is missing: run tools/deps.sh")
		}
		t.Log("dumpcap (tshark) is missing: the sync link capture is not checked")
		return nil
	}
	c := &syncCapture{path: filepath.Join(dir, "sync.pcap")}
	c.cmd = lab.Command(ns, "dumpcap", "-q", "-i", lab.IfSync, "-f", "udp port 8116", "-w", c.path)
	var stderr lockedBuffer
	c.cmd.Stderr = &stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	waitFor(t, "dumpcap capturing", 10*time.Second, func() bool { return strings.Contains(stderr.String(), "Capturing on") })
	return c
}

// checkSyncCapture stops the capture and dissects it with
// tools/wireshark/ccp.lua: heartbeats both ways, and delta records whose
// bodies decrypt (the lab runs without a key file) to the client's
// connections.
func checkSyncCapture(t *testing.T, c *syncCapture) {
	t.Helper()
	if c == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	_ = c.cmd.Wait()
	lua, err := filepath.Abs(filepath.Join("..", "..", "tools", "wireshark", "ccp.lua"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tshark", "-n", "-r", c.path, "-X", "lua_script:"+lua, "-Y", "tccp",
		"-T", "fields", "-E", "separator=|", "-e", "tccp.opcode", "-e", "tccp.sender", "-e", "tccp.decrypted", "-e", "tccp.rec.src", "-e", "tccp.rec.dst").Output()
	if err != nil {
		t.Fatalf("tshark on the sync capture: %v", err)
	}
	hb := map[string]int{}
	var records, decrypted, frames int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			continue
		}
		frames++
		if strings.HasPrefix(f[2], "decrypted with the unauthenticated key of cluster 1") {
			decrypted++
		}
		if f[0] == "1" {
			hb[f[1]]++
		}
		if (f[0] == "2" || f[0] == "5") && strings.Contains(f[3], lab.ClientAddr.String()) && strings.Contains(f[4], lab.ServerAddr.String()) {
			records++
		}
	}
	if frames == 0 || decrypted != frames || hb["1"] == 0 || hb["2"] == 0 || records == 0 {
		t.Errorf("sync capture: %d CCP frames, %d decrypted, heartbeats by member %v, %d data frames with a client-to-server record\n%s",
			frames, decrypted, hb, records, out)
	}
}

func lineOf(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// withAPISocket points the lab config of member id at another API socket.
func withAPISocket(t *testing.T, toml []byte, id int, socket string) []byte {
	t.Helper()
	old := []byte(fmt.Sprintf("socket = \"/run/tandem/gw%d.sock\"", id))
	if !bytes.Contains(toml, old) {
		t.Fatalf("the lab config of member %d has no api.socket line to change", id)
	}
	return bytes.Replace(toml, old, []byte(fmt.Sprintf("socket = %q", socket)), 1)
}
