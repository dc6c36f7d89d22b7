package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/api/apitest"
	"github.com/tandem-gw/tandem/syncpath"
)

// rig is a Server over a fake backend behind httptest, with a client.
type rig struct {
	fake *apitest.Fake
	srv  *api.Server
	hs   *httptest.Server
	c    *api.Client
	now  time.Time
}

func newRig(t *testing.T) *rig {
	t.Helper()
	f, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{fake: f, now: apitest.Started.Add(time.Hour)}
	r.srv = api.NewServer(f, api.Options{Now: func() time.Time { return r.now }, ProcStat: filepath.Join(t.TempDir(), "stat")})
	r.hs = httptest.NewServer(r.srv.Handler())
	t.Cleanup(r.hs.Close)
	r.c = api.NewTCPClient(strings.TrimPrefix(r.hs.URL, "http://"), "")
	t.Cleanup(r.c.Close)
	return r
}

var ctx = context.Background()

func TestStatusFillsUptime(t *testing.T) {
	r := newRig(t)
	st, err := r.c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "gw1" || st.Role != "active" || st.Uptime != time.Hour || st.Conns != len(apitest.Conns) {
		t.Errorf("status %+v: want gw1 active, up 1h, %d conns", st, len(apitest.Conns))
	}
	if st.Params.MaxBandwidth != 800e6 || st.Params.DelayedNotification != 3*time.Second {
		t.Errorf("params %+v", st.Params)
	}
}

func TestMembers(t *testing.T) {
	r := newRig(t)
	ms, err := r.c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || !ms[0].Self || ms[1].Name != "gw2" || ms[1].Role != "backup" {
		t.Errorf("members %+v", ms)
	}
}

func TestSyncStatsCarryEveryCounterAndReset(t *testing.T) {
	r := newRig(t)
	st, err := r.c.SyncStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Peers) != 1 {
		t.Fatalf("%d peers, want 1", len(st.Peers))
	}
	if want := r.fake.Peers[0].Counters; !reflect.DeepEqual(st.Peers[0].Counters, want) {
		t.Errorf("counters through the API\n got %+v\nwant %+v", st.Peers[0].Counters, want)
	}
	if st.Peers[0].LastFullSyncDuration != 664*time.Millisecond || st.Peers[0].Lag.P99 != 2*time.Millisecond {
		t.Errorf("full sync duration %v, lag %+v", st.Peers[0].LastFullSyncDuration, st.Peers[0].Lag)
	}

	r.now = r.now.Add(time.Minute)
	after, err := r.c.ResetSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := after.Peers[0]
	if p.Counters.FramesSent != 0 || p.Counters.Rejected.Auth != 0 || p.Counters.Suppressed != 0 {
		t.Errorf("after reset: frames %d, auth rejections %d, suppressed %d: want 0", p.Counters.FramesSent, p.Counters.Rejected.Auth, p.Counters.Suppressed)
	}
	if p.Counters.QueueDepth != 17 || !p.Counters.PeerAlive || p.Counters.FullSyncNanos == 0 {
		t.Errorf("a reset changed the gauges: queue %d, alive %v, full sync ns %d", p.Counters.QueueDepth, p.Counters.PeerAlive, p.Counters.FullSyncNanos)
	}
	if !p.ResetAt.Equal(r.now) {
		t.Errorf("reset at %v, want %v", p.ResetAt, r.now)
	}
	r.fake.Send(10, 400, 15000)
	st, err = r.c.SyncStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Peers[0].Counters; c.FramesSent != 10 || c.RecordsSent != 400 || c.BytesSent != 15000 {
		t.Errorf("since reset: %d frames, %d records, %d bytes; want 10, 400, 15000", c.FramesSent, c.RecordsSent, c.BytesSent)
	}
	// The backend's own counters are untouched.
	if r.fake.Peers[0].Counters.FramesSent != 1210 {
		t.Errorf("backend frames %d: the reset reached syncpath's counters", r.fake.Peers[0].Counters.FramesSent)
	}
}

// TestResetZeroesEveryCountAndNoGauge walks syncpath.Counters: a field
// added there is either a count the reset clears or a gauge listed as one.
func TestResetZeroesEveryCountAndNoGauge(t *testing.T) {
	r := newRig(t)
	var c syncpath.Counters
	fill(reflect.ValueOf(&c).Elem())
	r.fake.Peers[0].Counters = c
	if _, err := r.c.ResetSync(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := r.c.SyncStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "", reflect.ValueOf(st.Peers[0].Counters))
}

func fill(v reflect.Value) {
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.Struct:
			fill(f)
		case reflect.Uint64:
			f.SetUint(5)
		case reflect.Int, reflect.Int64:
			f.SetInt(5)
		case reflect.Bool:
			f.SetBool(true)
		}
	}
}

func check(t *testing.T, prefix string, v reflect.Value) {
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			check(t, prefix+name+".", f)
		case reflect.Uint64:
			if api.IsGauge(name) && f.Uint() != 5 {
				t.Errorf("gauge %s%s = %d after a reset, want 5", prefix, name, f.Uint())
			}
			if !api.IsGauge(name) && f.Uint() != 0 {
				t.Errorf("count %s%s = %d after a reset, want 0", prefix, name, f.Uint())
			}
		case reflect.Int, reflect.Int64:
			if f.Int() != 5 {
				t.Errorf("gauge %s%s = %d after a reset, want 5", prefix, name, f.Int())
			}
		}
	}
}

func TestSampleMeasuresBandwidthAndFullSyncs(t *testing.T) {
	r := newRig(t)
	r.srv.Sample()
	r.now = r.now.Add(2 * time.Second)
	r.fake.Send(100, 1000, 2_000_000) // 2 MB in 2 s: 8 Mbit/s
	r.fake.Mu.Lock()
	r.fake.Peers[0].Counters.FullSyncsReceived++
	r.fake.Mu.Unlock()
	r.srv.Sample()
	p := r.srv.SyncStats()[0]
	if p.BandwidthUsed != 8e6 {
		t.Errorf("bandwidth used %d bit/s, want 8000000", p.BandwidthUsed)
	}
	if !p.LastFullSync.Equal(r.now) {
		t.Errorf("last full sync %v, want %v", p.LastFullSync, r.now)
	}
}

func TestCPUUsageFromProcStat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stat")
	write := func(user0, idle0, user1, idle1 int) {
		s := fmt.Sprintf("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 %d 0 0 %d 0 0 0 0 50 0\ncpu1 %d 0 0 %d 0 0 0 0 0 0\nintr 5\n", user0, idle0, user1, idle1)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(f, api.Options{ProcStat: path})
	write(100, 100, 100, 100)
	srv.Sample()
	write(175, 125, 100, 200) // cpu0 75 of 100 busy, cpu1 idle
	srv.Sample()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	c := api.NewTCPClient(strings.TrimPrefix(hs.URL, "http://"), "")
	cpus, err := c.CPU(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus.CPUs) != 2 || cpus.CPUs[0].Busy != 0.75 || cpus.CPUs[1].Busy != 0 {
		t.Errorf("cpus %+v, want cpu0 0.75 busy and cpu1 idle", cpus.CPUs)
	}
}

func TestSocketsAndWorkers(t *testing.T) {
	r := newRig(t)
	socks, err := r.c.Sockets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks.Sockets) != 4 || socks.Sockets[0].Stats.RxRingFull != 3 {
		t.Errorf("sockets %+v", socks)
	}
	w, err := r.c.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Workers) != 2 || w.Workers[1].Counters["rx_inside"] != 2000 {
		t.Errorf("workers %+v", w.Workers)
	}
	if w.Drops["policy"] != 15 || w.Drops["tx_full"] != 2 || len(w.Drops) != 2 {
		t.Errorf("drops %v, want policy 15 and tx_full 2 only", w.Drops)
	}
	if w.Steering["ccp"] != 1900 {
		t.Errorf("steering %v", w.Steering)
	}
}

func conns(t *testing.T, r *rig, q api.ConnQuery) api.Conns {
	t.Helper()
	page, err := r.c.Conns(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func TestConnsFilters(t *testing.T) {
	r := newRig(t)
	all := conns(t, r, api.ConnQuery{})
	if len(all.Conns) != 4 || all.Next != "" || all.Total != 4 || all.Scanned != 1024 {
		t.Fatalf("unfiltered: %d conns, next %q, total %d, scanned %d: want 4, none, 4, 1024", len(all.Conns), all.Next, all.Total, all.Scanned)
	}
	for _, c := range all.Conns {
		if c.Owner != 1 || c.Backup != 2 || c.Age != 90*time.Second {
			t.Errorf("%+v: want owner 1, backup 2, age 90s", c)
		}
		if c.Family == 4 && (c.NAT != "snat" || c.NATAddr != apitest.SNATAddr.String() || c.NATPort < 20000) {
			t.Errorf("%+v: want source NAT to %v", c, apitest.SNATAddr)
		}
	}
	for _, tc := range []struct {
		q    api.ConnQuery
		want int
	}{
		{api.ConnQuery{ConnFilter: api.ConnFilter{Proto: 17}}, 1},
		{api.ConnQuery{ConnFilter: api.ConnFilter{Addr: apitest.SNATAddr}}, 3},
		{api.ConnQuery{ConnFilter: api.ConnFilter{Addr: netip.MustParseAddr("fd77:3::10")}}, 1},
		{api.ConnQuery{ConnFilter: api.ConnFilter{Addr: netip.MustParseAddr("10.77.3.99")}}, 0},
		{api.ConnQuery{ConnFilter: api.ConnFilter{State: "ESTABLISHED"}}, 2},
		{api.ConnQuery{ConnFilter: api.ConnFilter{Port: 443}}, 1},
		{api.ConnQuery{ConnFilter: api.ConnFilter{Port: 80, Proto: 6, Addr: netip.MustParseAddr("10.77.1.10")}}, 1},
	} {
		if got := conns(t, r, tc.q); len(got.Conns) != tc.want {
			t.Errorf("query %v: %d conns, want %d: %+v", tc.q.Values(), len(got.Conns), tc.want, got.Conns)
		}
	}
}

func TestConnsPagesWithACursor(t *testing.T) {
	r := newRig(t)
	seen := map[string]bool{}
	q := api.ConnQuery{Limit: 1}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("more than 10 pages of 1 for 4 connections")
		}
		page := conns(t, r, q)
		if len(page.Conns) > 1 {
			t.Fatalf("page of %d with limit 1", len(page.Conns))
		}
		for _, c := range page.Conns {
			k := fmt.Sprintf("%s %s:%d %s:%d", c.Proto, c.Src, c.SrcPort, c.Dst, c.DstPort)
			if seen[k] {
				t.Errorf("%s on two pages", k)
			}
			seen[k] = true
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if len(seen) != 4 {
		t.Errorf("%d connections over the pages, want 4", len(seen))
	}
}

func TestConnsRefusesBadQueries(t *testing.T) {
	r := newRig(t)
	for q, want := range map[string]string{
		"proto=sctpx":      "proto",
		"state=OPEN":       "ESTABLISHED",
		"addr=10.1":        "not an IPv4 or IPv6 address",
		"port=70000":       "1 to 65535",
		"limit=0":          "1 to 1000",
		"limit=5000":       "1 to 1000",
		"cursor=abc":       "cursor",
		"colour=blue":      "unknown parameter",
		"port=0":           "1 to 65535",
		"state=":           "",
		"proto=tcp&x=1":    "unknown parameter",
		"limit=ten&x=1":    "",
		"cursor=-1&x=1":    "",
		"addr=fe80::1%251": "no zone",
	} {
		resp, err := http.Get(r.hs.URL + "/v1/conns?" + q)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if q == "state=" {
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %d, want 200 (empty means any)", q, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error, want) {
			t.Errorf("%s: %d %q, want 400 saying %q", q, resp.StatusCode, e.Error, want)
		}
	}
}

func TestSetParam(t *testing.T) {
	r := newRig(t)
	res, err := r.c.SetParam(ctx, "sync.max_bandwidth", "1Gbit")
	if err != nil {
		t.Fatal(err)
	}
	if res.Value != "1Gbit" || res.Previous != "800Mbit" || r.fake.St.Params.MaxBandwidth != 1e9 {
		t.Errorf("set 1Gbit: %+v, backend %d", res, r.fake.St.Params.MaxBandwidth)
	}
	res, err = r.c.SetParam(ctx, "sync.max_bandwidth", "100MB/s")
	if err != nil || res.Value != "800Mbit" {
		t.Errorf("set 100MB/s: %+v %v, want 800Mbit", res, err)
	}
	res, err = r.c.SetParam(ctx, "sync.delayed_notification", "500ms")
	if err != nil || res.Value != "500ms" || res.Previous != "3s" {
		t.Errorf("set delay 500ms: %+v %v", res, err)
	}
	params, err := r.c.Params(ctx)
	if err != nil || params["sync.delayed_notification"] != "500ms" || params["sync.max_bandwidth"] != "800Mbit" {
		t.Errorf("params %v %v", params, err)
	}
}

func TestSetParamRefusesBadInput(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct{ name, value, want string }{
		{"sync.max_bandwidth", "800Mbps", "ambiguous"},
		{"sync.max_bandwidth", "fast", "not a bandwidth"},
		{"sync.max_bandwidth", "500kbit", "below 1Mbit"},
		{"sync.max_bandwidth", "800", "unit is missing"},
		{"sync.max_bandwidth", "", "no value"},
		{"sync.delayed_notification", "3", "not a duration"},
		{"sync.delayed_notification", "11m", "0 to 10m"},
		{"sync.delayed_notification", "-1s", "0 to 10m"},
		{"sync.maxbandwidth", "1Gbit", "unknown parameter \"sync.maxbandwidth\": the runtime parameters are sync.delayed_notification, sync.max_bandwidth"},
	} {
		_, err := r.c.SetParam(ctx, tc.name, tc.value)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != http.StatusBadRequest || !strings.Contains(ae.Message, tc.want) {
			t.Errorf("%s = %q: %v, want a 400 saying %q", tc.name, tc.value, err, tc.want)
		}
	}
	if r.fake.St.Params.MaxBandwidth != 800e6 || r.fake.St.Params.DelayedNotification != 3*time.Second {
		t.Errorf("a refused value reached the backend: %+v", r.fake.St.Params)
	}
	r.fake.DelayErr = fmt.Errorf("changing the delay at run time: %w", api.ErrNotSupported)
	_, err := r.c.SetParam(ctx, "sync.delayed_notification", "1s")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != http.StatusNotImplemented || !strings.Contains(ae.Message, "not supported") {
		t.Errorf("unsupported by the backend: %v, want a 501", err)
	}
}

func TestFailover(t *testing.T) {
	r := newRig(t)
	res, err := r.c.Failover(ctx)
	if err != nil || res.After != "backup" || r.fake.Failovers != 1 {
		t.Fatalf("failover: %+v %v (%d done)", res, err, r.fake.Failovers)
	}
	_, err = r.c.Failover(ctx)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != http.StatusConflict || !strings.Contains(ae.Message, "not active") {
		t.Errorf("second failover: %v, want a 409 saying not active", err)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	r := newRig(t)
	resp, err := http.Get(r.hs.URL + "/v1/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v1/nothing: %d, want 404", resp.StatusCode)
	}
	resp, err = http.Post(r.hs.URL+"/v1/params", "application/json", strings.NewReader(`{"name": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad body: %d, want 400", resp.StatusCode)
	}
}

func TestTokenHandler(t *testing.T) {
	f, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef-token"
	hs := httptest.NewServer(api.NewServer(f, api.Options{}).TokenHandler(token))
	defer hs.Close()
	addr := strings.TrimPrefix(hs.URL, "http://")
	for _, tok := range []string{"", "wrong-token-0123456789"} {
		c := api.NewTCPClient(addr, tok)
		_, err := c.Status(ctx)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != http.StatusUnauthorized {
			t.Errorf("token %q: %v, want 401", tok, err)
		}
	}
	if _, err := api.NewTCPClient(addr, token).Status(ctx); err != nil {
		t.Errorf("right token: %v", err)
	}
}

func TestStartServesAUnixSocket(t *testing.T) {
	f, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "tandemd.sock")
	// A stale socket of a dead tandemd is replaced.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	srv := api.NewServer(f, api.Options{})
	if err := srv.Start(api.Listen{Socket: path}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	c := api.NewUnixClient(path)
	defer c.Close()
	if st, err := c.Status(ctx); err != nil || st.Name != "gw1" {
		t.Errorf("status over the socket: %+v %v", st, err)
	}
	// A second server on a live socket is refused.
	if err := api.NewServer(f, api.Options{}).Start(api.Listen{Socket: path}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second server on a live socket: %v, want in use", err)
	}
	// TCP with a token file: the token is required there, not on the socket.
	tokFile := filepath.Join(dir, "api.token")
	if err := os.WriteFile(tokFile, []byte("s3cret-token-of-24-chars\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tcpSrv := api.NewServer(f, api.Options{})
	if err := tcpSrv.Start(api.Listen{Socket: filepath.Join(dir, "c.sock"), TCP: "127.0.0.1:0", TokenFile: tokFile}); err != nil {
		t.Fatal(err)
	}
	defer tcpSrv.Close()
	addr := tcpSrv.TCPAddr()
	if _, err := api.NewTCPClient(addr, "s3cret-token-of-24-chars").Status(ctx); err != nil {
		t.Errorf("TCP with the token: %v", err)
	}
	var ae *api.Error
	if _, err := api.NewTCPClient(addr, "").Status(ctx); !errors.As(err, &ae) || ae.Code != http.StatusUnauthorized {
		t.Errorf("TCP without the token: %v, want 401", err)
	}
	if _, err := api.NewUnixClient(filepath.Join(dir, "c.sock")).Status(ctx); err != nil {
		t.Errorf("the socket of a server with TCP: %v", err)
	}
	short := filepath.Join(dir, "short.token")
	if err := os.WriteFile(short, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = api.NewServer(f, api.Options{}).Start(api.Listen{Socket: filepath.Join(dir, "d.sock"), TCP: "127.0.0.1:0", TokenFile: short})
	if err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("a 3-character token: %v", err)
	}
	// TCP without a token file is refused.
	err = api.NewServer(f, api.Options{}).Start(api.Listen{Socket: filepath.Join(dir, "b.sock"), TCP: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "token_file") {
		t.Errorf("TCP without a token: %v", err)
	}
	srv.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := c.Status(ctx); err == nil || !strings.Contains(err.Error(), "cannot reach tandemd") {
		t.Errorf("after Close: %v, want cannot reach", err)
	}
}
