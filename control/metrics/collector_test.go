package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/api/apitest"
	"github.com/tandem-gw/tandem/control/metrics"
	"github.com/tandem-gw/tandem/syncpath"
)

// scrape serves the metrics of b, scrapes them over HTTP and parses the
// text exposition.
func scrape(t *testing.T, b api.Backend) map[string]*dto.MetricFamily {
	t.Helper()
	srv := api.NewServer(b, api.Options{})
	srv.Sample()
	h, err := metrics.Handler(b, srv.Sampled, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()
	req, err := http.NewRequest(http.MethodGet, hs.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, dto.MetricType, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), f.GetType(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), f.GetType(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), f.GetType(), true
		}
	}
	return 0, 0, false
}

func fake(t *testing.T) *apitest.Fake {
	t.Helper()
	f, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEverySyncstatFigureIsAMetric walks the figures syncstat prints
// (api.SyncFields, which a test in control/api holds to every field of
// syncpath.Counters) and finds each in a scrape, with its value.
func TestEverySyncstatFigureIsAMetric(t *testing.T) {
	f := fake(t)
	// Distinct values, so that a metric reading the wrong field shows.
	c := &f.Peers[0].Counters
	for i, fl := range api.SyncFields {
		setField(c, fl.Path, uint64(i+1))
	}
	fams := scrape(t, f)
	for _, fl := range api.SyncFields {
		labels := map[string]string{"peer": "gw2"}
		if fl.Reason != "" {
			labels["reason"] = fl.Reason
		}
		got, typ, ok := value(fams, fl.Metric, labels)
		if !ok {
			t.Errorf("syncstat's %q (%s) has no metric %s%v", fl.Label, fl.Path, fl.Metric, labels)
			continue
		}
		want := fl.Value(c)
		if fl.Kind == api.KindNanos {
			want /= 1e9
		}
		if got != want {
			t.Errorf("%s%v = %v, want %v (%s)", fl.Metric, labels, got, want, fl.Path)
		}
		isCounter := fl.Kind == api.KindCount || fl.Kind == api.KindBytes
		if isCounter != (typ == dto.MetricType_COUNTER) || isCounter != strings.HasSuffix(fl.Metric, "_total") {
			t.Errorf("%s: type %v for a figure of kind %d", fl.Metric, typ, fl.Kind)
		}
	}
	lag, ok := fams["tandem_sync_lag_seconds"]
	if !ok || lag.GetType() != dto.MetricType_SUMMARY || len(lag.Metric) != 1 {
		t.Fatalf("tandem_sync_lag_seconds: %v", lag)
	}
	sum := lag.Metric[0].Summary
	if sum.GetSampleCount() != 1150 || sum.GetSampleSum() != 0.575 {
		t.Errorf("lag count %d sum %v, want 1150 and 0.575", sum.GetSampleCount(), sum.GetSampleSum())
	}
	want := map[float64]float64{0.5: 300e-6, 0.99: 2e-3, 1: 9e-3}
	for _, q := range sum.Quantile {
		if want[q.GetQuantile()] != q.GetValue() {
			t.Errorf("lag quantile %v = %v, want %v", q.GetQuantile(), q.GetValue(), want[q.GetQuantile()])
		}
		delete(want, q.GetQuantile())
	}
	if len(want) != 0 {
		t.Errorf("lag quantiles missing: %v", want)
	}
	// The sampled figures: the fake completed a full sync before the
	// first sample, dated then.
	if got, _, ok := value(fams, "tandem_sync_last_full_sync_timestamp_seconds", map[string]string{"peer": "gw2"}); !ok || got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last full sync timestamp %v (%v), want about now", got, ok)
	}
	if _, _, ok := value(fams, "tandem_sync_bandwidth_used_bytes_per_second", map[string]string{"peer": "gw2"}); !ok {
		t.Error("no bandwidth used metric")
	}
	if got, _, _ := value(fams, "tandem_sync_bandwidth_limit_bytes_per_second", nil); got != 100e6 {
		t.Errorf("bandwidth limit %v B/s, want 1e8", got)
	}
}

// TestRemediationMetrics: the figures of syncstat's delayed-notification
// line are metrics: the delay in effect, its base, the remediation's
// switch, its last lag and backlog, and its steps by direction.
func TestRemediationMetrics(t *testing.T) {
	f := fake(t)
	f.Mu.Lock()
	f.St.Params.DelayedNotification = 12 * time.Second
	f.Peers[0].Delay = api.DelayStatus{Delay: 12 * time.Second, Base: 3 * time.Second, Remediation: true, Max: 30 * time.Second,
		LagThreshold: 50 * time.Millisecond, QueueThreshold: 100_000, LagP99: 80 * time.Millisecond, Backlog: 1234, StepsUp: 3, StepsDown: 1}
	f.Mu.Unlock()
	fams := scrape(t, f)
	gw2 := map[string]string{"peer": "gw2"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
		typ    dto.MetricType
	}{
		{"tandem_sync_delayed_notification_seconds", nil, 12, dto.MetricType_GAUGE},
		{"tandem_sync_delayed_notification_base_seconds", gw2, 3, dto.MetricType_GAUGE},
		{"tandem_sync_remediation_enabled", gw2, 1, dto.MetricType_GAUGE},
		{"tandem_sync_remediation_lag_p99_seconds", gw2, 0.08, dto.MetricType_GAUGE},
		{"tandem_sync_remediation_backlog_records", gw2, 1234, dto.MetricType_GAUGE},
		{"tandem_sync_remediation_steps_total", map[string]string{"peer": "gw2", "direction": "up"}, 3, dto.MetricType_COUNTER},
		{"tandem_sync_remediation_steps_total", map[string]string{"peer": "gw2", "direction": "down"}, 1, dto.MetricType_COUNTER},
	} {
		if got, typ, ok := value(fams, tc.name, tc.labels); !ok || got != tc.want || typ != tc.typ {
			t.Errorf("%s%v = %v %v (found %v), want %v %v", tc.name, tc.labels, got, typ, ok, tc.want, tc.typ)
		}
	}
	// Off: no lag or backlog figure (it is not measured), the switch at 0.
	f.Mu.Lock()
	f.Peers[0].Delay = api.DelayStatus{Delay: 3 * time.Second, Base: 3 * time.Second}
	f.Mu.Unlock()
	fams = scrape(t, f)
	if got, _, ok := value(fams, "tandem_sync_remediation_enabled", gw2); !ok || got != 0 {
		t.Errorf("remediation off: enabled %v (found %v), want 0", got, ok)
	}
	if _, ok := fams["tandem_sync_remediation_lag_p99_seconds"]; ok {
		t.Error("remediation off: a lag p99 metric nothing measured")
	}
}

// setField sets the syncpath.Counters field at path to v.
func setField(c *syncpath.Counters, path string, v uint64) {
	f := reflect.ValueOf(c).Elem()
	for p := range strings.SplitSeq(path, ".") {
		f = f.FieldByName(p)
	}
	switch f.Kind() {
	case reflect.Uint64:
		f.SetUint(v)
	case reflect.Int, reflect.Int64:
		f.SetInt(int64(v))
	case reflect.Bool:
		f.SetBool(true)
	}
}

func TestDataplaneMetrics(t *testing.T) {
	f := fake(t)
	f.Forward(7, 700)
	fams := scrape(t, f)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tandem_rx_packets_total", map[string]string{"interface": "in0", "queue": "1"}, 2007},
		{"tandem_tx_packets_total", map[string]string{"interface": "out0", "queue": "0"}, 1007},
		{"tandem_rx_bytes_total", map[string]string{"interface": "out0", "queue": "1"}, 2_400_000},
		{"tandem_forwarded_packets_total", map[string]string{"queue": "0"}, 1907},
		{"tandem_dropped_packets_total", map[string]string{"queue": "1", "reason": "policy"}, 10},
		{"tandem_dropped_packets_total", map[string]string{"queue": "0", "reason": "tx_full"}, 1},
		{"tandem_xdp_steering_packets_total", map[string]string{"reason": "ccp"}, 1900},
		{"tandem_xsk_rx_ring_full_total", map[string]string{"interface": "in0", "queue": "0"}, 3},
		{"tandem_xsk_fill_ring_empty_total", map[string]string{"interface": "in0", "queue": "0"}, 12},
		{"tandem_conntrack_entries", nil, 4},
		{"tandem_conntrack_entries_max", nil, 1024},
		{"tandem_member_active", nil, 1},
		{"tandem_peer_up", map[string]string{"peer": "gw2"}, 1},
		{"tandem_peer_last_heard_seconds", map[string]string{"peer": "gw2"}, 0.04},
		{"tandem_sync_delayed_notification_seconds", nil, 3},
		{"tandem_start_time_seconds", nil, float64(apitest.Started.Unix())},
	} {
		if got, _, ok := value(fams, tc.name, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

// TestLabelsAndNames: only the low-cardinality labels, and names that pass
// Prometheus's own lint (units, _total on counters).
func TestLabelsAndNames(t *testing.T) {
	f := fake(t)
	allowed := map[string]bool{"peer": true, "interface": true, "queue": true, "reason": true, "quantile": true, "direction": true}
	for name, fam := range scrape(t, f) {
		if !strings.HasPrefix(name, "tandem_") {
			continue
		}
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if !allowed[l.GetName()] {
					t.Errorf("%s has label %q", name, l.GetName())
				}
			}
		}
	}
	problems, err := testutil.CollectAndLint(metrics.New(f, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestScrapeSurvivesABackendError: a failing read gives an error for its
// metrics, the rest is still served.
func TestScrapeSurvivesABackendError(t *testing.T) {
	h, err := metrics.Handler(failingSockets{fake(t)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "tandem_sync_frames_sent_total") {
		t.Errorf("scrape with a failing socket read: %d\n%s", rec.Code, rec.Body.String())
	}
}

type failingSockets struct{ *apitest.Fake }

func (failingSockets) Sockets() ([]api.Socket, error) { return nil, fmt.Errorf("xsk: %w", errBoom) }

var errBoom = fmt.Errorf("boom")

func TestServe(t *testing.T) {
	s, err := metrics.Serve("127.0.0.1:0", fake(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics: %s", resp.Status)
	}
}
