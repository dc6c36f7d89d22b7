package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/api/apitest"
	"github.com/tandem-gw/tandem/control/config"
)

// TestMain lets the test binary run as tandemctl (TANDEMCTL_MAIN=1), for
// the tests that drive it under a pseudo-terminal.
func TestMain(m *testing.M) {
	if os.Getenv("TANDEMCTL_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// fakeDaemon serves the API over a fake backend on a unix socket.
func fakeDaemon(t *testing.T) (*apitest.Fake, string) {
	t.Helper()
	f, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tandemd.sock")
	srv := api.NewServer(f, api.Options{})
	if err := srv.Start(api.Listen{Socket: path}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return f, path
}

// ctl runs tandemctl with args against the socket and returns its exit
// status and output.
func ctl(t *testing.T, socket string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(append([]string{"--socket", socket}, args...), nil, &o, &e)
	return code, o.String(), e.String()
}

func mustRun(t *testing.T, socket string, args ...string) string {
	t.Helper()
	code, out, errs := ctl(t, socket, args...)
	if code != 0 {
		t.Fatalf("tandemctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestStatus(t *testing.T) {
	_, sock := fakeDaemon(t)
	out := mustRun(t, sock, "status")
	wantLines(t, out, "gw1 (member 1 of cluster 1): active, priority 100, up ",
		"  in0      inside   2 queues, XDP native", "  sync0    sync     1 queue",
		"connections: 4 of 1,024 (0.4%)", "cores: control plane 0, sync worker 1, worker 1",
		"sync.max_bandwidth = 800Mbit", "sync.delayed_notification = 3s")
}

func TestMembers(t *testing.T) {
	_, sock := fakeDaemon(t)
	out := mustRun(t, sock, "members")
	wantLines(t, out, "ID  NAME", "gw1 (this)  active", "gw2         backup  90", "40ms ago", "10.77.9.2")
}

func TestSyncstat(t *testing.T) {
	f, sock := fakeDaemon(t)
	out := mustRun(t, sock, "syncstat")
	wantLines(t, out, "peer gw2 (member 2): alive, heartbeat round trip 180µs",
		"of 800 Mbit/s", "lag             p50 300µs  p99 2ms  max 9ms  (1,150 frames acked)",
		"queue           17 records waiting, 3 frames in flight")
	rows := map[string]string{
		"frames":                            "1,200       900",
		"records":                           "48,000        10",
		"bytes":                             "1.8 MB     90 kB",
		"last full sync took":               "664ms",
		"rejected: auth":                    "2",
		"rejected: replay":                  "1",
		"suppressed (delayed notification)": "12,000",
	}
	for label, vals := range rows {
		line := lineWith(out, "  "+label+" ")
		if !strings.Contains(strings.Join(strings.Fields(line), " "), strings.Join(strings.Fields(vals), " ")) {
			t.Errorf("row %q is %q, want %q", label, line, vals)
		}
	}
	// Every figure has its row.
	for _, fl := range api.SyncFields {
		if lineWith(out, "  "+fl.Label+" ") == "" {
			t.Errorf("no row for %s (%q)", fl.Path, fl.Label)
		}
	}
	out = mustRun(t, sock, "syncstat", "--reset")
	wantLines(t, out, "counters reset", "counters since")
	if line := strings.Fields(lineWith(out, "  frames ")); len(line) != 3 || line[1] != "0" || line[2] != "0" {
		t.Errorf("frames after reset: %q", line)
	}
	f.Send(3, 30, 3000)
	out = mustRun(t, sock, "syncstat")
	if line := strings.Fields(lineWith(out, "  records ")); len(line) != 3 || line[1] != "30" {
		t.Errorf("records after reset and 30 sent: %q", line)
	}
}

// TestSyncstatDelay: the delayed-notification line, with the remediation
// off, on without steps, and after steps.
func TestSyncstatDelay(t *testing.T) {
	f, sock := fakeDaemon(t)
	wantLines(t, mustRun(t, sock, "syncstat"), "  delayed notification 3s (remediation off)\n")
	f.Mu.Lock()
	f.Peers[0].Delay = api.DelayStatus{Delay: 3 * time.Second, Base: 3 * time.Second, Remediation: true, Max: 30 * time.Second,
		LagThreshold: 50 * time.Millisecond, QueueThreshold: 100_000, LagP99: 2 * time.Millisecond, Backlog: 1200}
	f.Mu.Unlock()
	wantLines(t, mustRun(t, sock, "syncstat"), "  delayed notification 3s (base 3s; remediation on: no steps; lag p99 2ms of 50ms, backlog 1,200 of 100,000 records)\n")
	f.Mu.Lock()
	f.Peers[0].Delay.Delay, f.Peers[0].Delay.StepsUp, f.Peers[0].Delay.StepsDown = 6*time.Second, 2, 1
	f.Peers[0].Delay.LastStep = &api.DelayStep{At: time.Now().Add(-12 * time.Second), Direction: "raised", From: 3 * time.Second, To: 6 * time.Second, Reason: "lag p99 80ms > 50ms"}
	f.Mu.Unlock()
	out := mustRun(t, sock, "syncstat")
	wantLines(t, out, "  delayed notification 6s (base 3s; remediation on: 2 steps up, 1 down, last: raised 3s→6s 12s ago, lag p99 80ms > 50ms)\n")
	f.Mu.Lock()
	f.Peers[0].Delay = api.DelayStatus{}
	f.Mu.Unlock()
	wantLines(t, mustRun(t, sock, "syncstat"), "  delayed notification off (remediation off)\n")
	var st api.SyncStats
	if err := json.Unmarshal([]byte(mustRun(t, sock, "syncstat", "--json")), &st); err != nil || st.Peers[0].Delay.Remediation {
		t.Errorf("syncstat --json: %v, %+v", err, st)
	}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func TestConns(t *testing.T) {
	_, sock := fakeDaemon(t)
	out := mustRun(t, sock, "conns")
	wantLines(t, out, "PROTO  SOURCE", "4 connections shown, 4 in the table",
		"tcp    10.77.1.10:40000", "snat 10.77.2.100:", "ESTABLISHED", "1m30s", "[fd77:1::10]:50000")
	if strings.Contains(out, "more:") {
		t.Errorf("a complete listing offers more:\n%s", out)
	}
	out = mustRun(t, sock, "conns", "--proto", "udp")
	wantLines(t, out, "udp    10.77.1.11:5353", "1 connection shown")
	if strings.Contains(out, "tcp ") {
		t.Errorf("--proto udp lists tcp:\n%s", out)
	}
	out = mustRun(t, sock, "conns", "--state", "syn_sent", "--addr", "10.77.3.10")
	wantLines(t, out, ":443", "1 connection shown")
	out = mustRun(t, sock, "conns", "--limit", "1")
	wantLines(t, out, "1 connection shown", "more: tandemctl conns --cursor ")
	cursor := strings.Fields(lineWith(out, "more:"))[4]
	out = mustRun(t, sock, "conns", "--limit", "3", "--cursor", cursor)
	wantLines(t, out, "3 connections shown")

	for args, want := range map[string]string{
		"--state OPEN":     "ESTABLISHED",
		"--proto sctpx":    "tcp, udp",
		"--addr 10.1":      "not an IPv4",
		"--limit 0":        "1 to 1000",
		"--port 70000":     "1 to 65535",
		"--cursor nothing": "cursor",
	} {
		code, _, errs := ctl(t, sock, append([]string{"conns"}, strings.Fields(args)...)...)
		if code == 0 || !strings.Contains(errs, want) {
			t.Errorf("conns %s: exit %d, %q; want a failure saying %q", args, code, errs, want)
		}
	}
}

func TestSet(t *testing.T) {
	f, sock := fakeDaemon(t)
	out := mustRun(t, sock, "set", "sync.max_bandwidth", "1Gbit")
	wantLines(t, out, "sync.max_bandwidth = 1Gbit (was 800Mbit)")
	out = mustRun(t, sock, "set", "sync.delayed_notification", "1m30s")
	wantLines(t, out, "sync.delayed_notification = 1m30s (was 3s)")
	if f.St.Params.MaxBandwidth != 1e9 {
		t.Errorf("backend bandwidth %d", f.St.Params.MaxBandwidth)
	}
}

func TestSetRefusesABadValue(t *testing.T) {
	f, sock := fakeDaemon(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sync.max_bandwidth", "800Mbps"}, 1, `tandemctl set: sync.max_bandwidth = "800Mbps": "Mbps" is ambiguous (megabits to most, megabytes to tc): write Mbit for bits or MB/s for bytes`},
		{[]string{"sync.max_bandwidth", "lots"}, 1, "not a bandwidth: want a number and a unit"},
		{[]string{"sync.delayed_notification", "1h"}, 1, "must be 0 to 10m"},
		{[]string{"sync.mtu", "9000"}, 1, `unknown parameter "sync.mtu": the runtime parameters are sync.delayed_notification, sync.max_bandwidth`},
		{[]string{"sync.max_bandwidth"}, 2, "want PARAM VALUE"},
	} {
		code, out, errs := ctl(t, sock, append([]string{"set"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("set %q: exit %d, stdout %q, stderr %q; want exit %d saying %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
	if f.St.Params.MaxBandwidth != 800e6 {
		t.Errorf("a refused value changed the bandwidth to %d", f.St.Params.MaxBandwidth)
	}
}

func TestFailover(t *testing.T) {
	f, sock := fakeDaemon(t)
	out := mustRun(t, sock, "failover")
	wantLines(t, out, "failover: active -> backup: gw2 took over")
	if f.Failovers != 1 {
		t.Errorf("%d failovers", f.Failovers)
	}
	code, _, errs := ctl(t, sock, "failover")
	if code != 1 || !strings.Contains(errs, "this member is backup, not active") {
		t.Errorf("failover of a backup: exit %d, %q", code, errs)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "gw1.toml")
	if err := os.WriteFile(good, config.DefaultTOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, bytes.Replace(config.DefaultTOML(), []byte("[member]\n"), []byte("[member]\nprioity = 3\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "/nonexistent", "config", "check", good)
	wantLines(t, out, good+": config OK")
	code, out, errs := ctl(t, "/nonexistent", "config", "check", bad)
	if code != 1 || !strings.Contains(out, "member.prioity: unknown key") || !strings.Contains(errs, "refused") {
		t.Errorf("bad file: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = ctl(t, "/nonexistent", "--json", "config", "check", bad)
	var res configResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.OK || len(res.Problems) != 1 {
		t.Errorf("bad file, --json: exit %d, %+v, %v\n%s", code, res, err, out)
	}
}

// TestJSONOnEveryCommand: --json, before or after the command, gives JSON
// that decodes into the API's types.
func TestJSONOnEveryCommand(t *testing.T) {
	_, sock := fakeDaemon(t)
	for _, tc := range []struct {
		args []string
		into any
		ok   func(any) bool
	}{
		{[]string{"--json", "status"}, &api.Status{}, func(v any) bool { return v.(*api.Status).Name == "gw1" }},
		{[]string{"members", "--json"}, &[]api.Member{}, func(v any) bool { return len(*v.(*[]api.Member)) == 2 }},
		{[]string{"syncstat", "--json"}, &api.SyncStats{}, func(v any) bool { return v.(*api.SyncStats).Peers[0].Counters.FramesSent == 1200 }},
		{[]string{"conns", "--json", "--proto", "tcp"}, &api.Conns{}, func(v any) bool { return len(v.(*api.Conns).Conns) == 3 }},
		{[]string{"set", "--json", "sync.max_bandwidth", "2Gbit"}, &api.ParamResult{}, func(v any) bool { return v.(*api.ParamResult).Value == "2Gbit" }},
		{[]string{"top", "--json", "-n", "2", "--interval", "100ms"}, &snapshot{}, func(v any) bool { return len(v.(*snapshot).Rates) == 4 }},
		{[]string{"syncstat", "--json", "--reset"}, &api.SyncStats{}, func(v any) bool { return v.(*api.SyncStats).Peers[0].Counters.FramesSent == 0 }},
		{[]string{"failover", "--json"}, &api.FailoverResult{}, func(v any) bool { return v.(*api.FailoverResult).After == "backup" }},
	} {
		out := mustRun(t, sock, tc.args...)
		if tc.args[0] == "top" {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Errorf("top --json -n 2: %d lines, want 2", len(lines))
			}
			out = lines[len(lines)-1]
		}
		if err := json.Unmarshal([]byte(out), tc.into); err != nil || !tc.ok(tc.into) {
			t.Errorf("%q: %v\n%s", tc.args, err, out)
		}
	}
}

func TestUsageAndUnreachable(t *testing.T) {
	code, _, errs := ctl(t, filepath.Join(t.TempDir(), "none.sock"), "status")
	if code != 1 || !strings.Contains(errs, "cannot reach tandemd at") || !strings.Contains(errs, "is it running") {
		t.Errorf("no daemon: exit %d, %q", code, errs)
	}
	code, _, errs = ctl(t, "/x", "frobnicate")
	if code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) || !strings.Contains(errs, "syncstat") {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
	code, _, errs = ctl(t, "/x", "status", "extra")
	if code != 2 || !strings.Contains(errs, "unexpected arguments") {
		t.Errorf("extra argument: exit %d, %q", code, errs)
	}
	code, _, errs = ctl(t, "/x", "--tcp", "127.0.0.1:1", "status")
	if code != 2 || !strings.Contains(errs, "--token-file") {
		t.Errorf("--tcp without a token: exit %d, %q", code, errs)
	}
}

func TestStandaloneMember(t *testing.T) {
	f, sock := fakeDaemon(t)
	f.Mu.Lock()
	f.Peers, f.Mem, f.St.Peers = nil, f.Mem[:1], 0
	f.Mu.Unlock()
	out := mustRun(t, sock, "syncstat")
	wantLines(t, out, "no peers: this member runs standalone")
	out = mustRun(t, sock, "members")
	if strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("members of a standalone member: want a header and one row:\n%s", out)
	}
	out = mustRun(t, sock, "top", "-n", "1")
	wantLines(t, out, "standalone: no peers")
}
