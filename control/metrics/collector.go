package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/dataplane"
	"github.com/tandem-gw/tandem/dataplane/xsk"
)

// Collector is a prometheus.Collector over an api.Backend. Collect reads
// the backend's snapshot, as the API does; it is safe for concurrent use
// if the backend is.
type Collector struct {
	b       api.Backend
	sampled func() map[int]api.Sampled // nil: no sampled figures

	sync     map[string]*prometheus.Desc // by metric name
	lag      *prometheus.Desc
	bwLimit  *prometheus.Desc
	bwUsed   *prometheus.Desc
	lastFull *prometheus.Desc
	delay    *prometheus.Desc
	remedy   remedyMetrics
	active   *prometheus.Desc
	started  *prometheus.Desc
	peerUp   *prometheus.Desc
	heard    *prometheus.Desc
	conns    *prometheus.Desc
	connsMax *prometheus.Desc
	worker   map[string]workerMetric // by dataplane counter name
	dropped  *prometheus.Desc
	steering *prometheus.Desc
	xsk      []xskMetric
}

// remedyMetrics are the delayed-notification figures of each peer's
// session: its base and what the remediation (sync.remediation) did.
type remedyMetrics struct {
	base, enabled, steps, lag, backlog *prometheus.Desc
}

func (r remedyMetrics) descs() []*prometheus.Desc {
	return []*prometheus.Desc{r.base, r.enabled, r.steps, r.lag, r.backlog}
}

type workerMetric struct {
	desc  *prometheus.Desc
	side  string // "inside" or "outside": the interface label comes from it; "" for queue only
	bytes bool
}

type xskMetric struct {
	desc *prometheus.Desc
	get  func(*xsk.Statistics) uint64
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// New returns a Collector over b. sampled, if not nil, adds the figures
// the API server measures (api.Server.Sampled): bandwidth used and the
// time of the last full sync.
func New(b api.Backend, sampled func() map[int]api.Sampled) *Collector {
	c := &Collector{b: b, sampled: sampled, sync: map[string]*prometheus.Desc{}, worker: map[string]workerMetric{}}
	for _, f := range api.SyncFields {
		if _, ok := c.sync[f.Metric]; ok {
			continue
		}
		labels := []string{"peer"}
		if f.Reason != "" {
			labels = append(labels, "reason")
		}
		c.sync[f.Metric] = desc(f.Metric, f.Help+".", labels...)
	}
	c.lag = desc("tandem_sync_lag_seconds", "Sync lag, from when a frame's oldest record left the queue to its acknowledgement, since tandemd started; quantile 1 is the maximum.", "peer")
	c.bwLimit = desc("tandem_sync_bandwidth_limit_bytes_per_second", "sync.max_bandwidth in bytes per second; 0 is unlimited.", "peer")
	c.bwUsed = desc("tandem_sync_bandwidth_used_bytes_per_second", "Bytes per second sent to the peer over the API's last sampling second.", "peer")
	c.lastFull = desc("tandem_sync_last_full_sync_timestamp_seconds", "When the API's sampling first saw a full sync completed, either way, in seconds since the epoch.", "peer")
	c.delay = desc("tandem_sync_delayed_notification_seconds", "sync.delayed_notification: connections younger than this are not synced.")
	c.remedy = remedyMetrics{
		base:    desc("tandem_sync_delayed_notification_base_seconds", "The delayed-notification delay the remediation steps up from and returns to: sync.delayed_notification or the value last set (tandem_sync_delayed_notification_seconds is the one in effect).", "peer"),
		enabled: desc("tandem_sync_remediation_enabled", "1 while sync.remediation is enabled.", "peer"),
		steps:   desc("tandem_sync_remediation_steps_total", "Steps the remediation took on the delayed-notification delay, by direction (up, down).", "peer", "direction"),
		lag:     desc("tandem_sync_remediation_lag_p99_seconds", "Sync lag p99 over the last second, as the remediation last measured it (only while it is enabled).", "peer"),
		backlog: desc("tandem_sync_remediation_backlog_records", "Records waiting to be sent, not those the delay holds, as the remediation last measured them (only while it is enabled).", "peer"),
	}
	c.active = desc("tandem_member_active", "1 while this member holds the active role.")
	c.started = desc("tandem_start_time_seconds", "When tandemd started, in seconds since the epoch.")
	c.peerUp = desc("tandem_peer_up", "1 while the peer is heard within its timeout.", "peer")
	c.heard = desc("tandem_peer_last_heard_seconds", "Time since the peer was last heard.", "peer")
	c.conns = desc("tandem_conntrack_entries", "Connections in the table.")
	c.connsMax = desc("tandem_conntrack_entries_max", "Connections the table holds at most (conntrack.max_entries).")
	c.dropped = desc("tandem_dropped_packets_total", "Packets the dataplane dropped, by queue and reason.", "queue", "reason")
	c.steering = desc("tandem_xdp_steering_packets_total", "Packets the XDP steering program passed to the kernel or redirected to the CCP socket, by reason.", "reason")
	for i := range dataplane.NumCounters {
		name := dataplane.CounterName(i)
		if strings.HasPrefix(name, "drop_") {
			continue
		}
		c.worker[name] = workerMetricFor(name)
	}
	xs := []struct {
		name, help string
		get        func(*xsk.Statistics) uint64
	}{
		{"tandem_xsk_rx_dropped_total", "Frames the kernel dropped for an AF_XDP socket for reasons other than a full rx ring or empty fill ring.", func(s *xsk.Statistics) uint64 { return s.RxDropped }},
		{"tandem_xsk_rx_invalid_descriptors_total", "Bad descriptors on the fill ring.", func(s *xsk.Statistics) uint64 { return s.RxInvalidDescs }},
		{"tandem_xsk_tx_invalid_descriptors_total", "Bad descriptors on the tx ring.", func(s *xsk.Statistics) uint64 { return s.TxInvalidDescs }},
		{"tandem_xsk_rx_ring_full_total", "Frames dropped because the rx ring was full.", func(s *xsk.Statistics) uint64 { return s.RxRingFull }},
		{"tandem_xsk_fill_ring_empty_total", "Times the kernel found the fill ring empty.", func(s *xsk.Statistics) uint64 { return s.FillRingEmptyDescs }},
		{"tandem_xsk_tx_ring_empty_total", "Times the kernel found the tx ring empty when kicked.", func(s *xsk.Statistics) uint64 { return s.TxRingEmptyDescs }},
	}
	for _, x := range xs {
		c.xsk = append(c.xsk, xskMetric{desc(x.name, x.help, "interface", "queue"), x.get})
	}
	return c
}

// workerMetricFor names a dataplane counter's metric.
func workerMetricFor(name string) workerMetric {
	for _, side := range []string{"inside", "outside"} {
		switch name {
		case "rx_" + side:
			return workerMetric{desc("tandem_rx_packets_total", "Packets received by the dataplane, by interface and queue.", "interface", "queue"), side, false}
		case "tx_" + side:
			return workerMetric{desc("tandem_tx_packets_total", "Packets sent by the dataplane, by interface and queue.", "interface", "queue"), side, false}
		case "rx_bytes_" + side:
			return workerMetric{desc("tandem_rx_bytes_total", "Bytes received by the dataplane, by interface and queue.", "interface", "queue"), side, true}
		case "tx_bytes_" + side:
			return workerMetric{desc("tandem_tx_bytes_total", "Bytes sent by the dataplane, by interface and queue.", "interface", "queue"), side, true}
		}
	}
	known := map[string][2]string{
		"forwarded":       {"tandem_forwarded_packets_total", "Packets forwarded."},
		"new_connections": {"tandem_new_connections_total", "Connections created."},
		"nated":           {"tandem_nat_connections_total", "Connections given a NAT mapping."},
		"icmp_sent":       {"tandem_icmp_sent_packets_total", "ICMP errors (time exceeded) sent back to senders."},
		"to_kernel":       {"tandem_to_kernel_packets_total", "Packets handed to the kernel because their next hop was unresolved."},
		"related":         {"tandem_related_packets_total", "ICMP errors about a tracked connection, forwarded."},
	}
	if k, ok := known[name]; ok {
		return workerMetric{desc: desc(k[0], k[1], "queue")}
	}
	return workerMetric{desc: desc("tandem_dataplane_"+name+"_total", "Dataplane counter "+name+".", "queue")}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.sync {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.lag, c.bwLimit, c.bwUsed, c.lastFull, c.delay, c.active, c.started, c.peerUp, c.heard, c.conns, c.connsMax, c.dropped, c.steering} {
		ch <- d
	}
	for _, d := range c.remedy.descs() {
		ch <- d
	}
	seen := map[*prometheus.Desc]bool{}
	for _, w := range c.worker {
		if !seen[w.desc] {
			seen[w.desc] = true
			ch <- w.desc
		}
	}
	for _, x := range c.xsk {
		ch <- x.desc
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	st := c.b.Status()
	gauge(c.conns, float64(st.Conns))
	gauge(c.connsMax, float64(st.ConnsMax))
	gauge(c.delay, st.Params.DelayedNotification.Seconds())
	active := 0.0
	if st.Role == "active" {
		active = 1
	}
	gauge(c.active, active)
	if !st.Started.IsZero() {
		gauge(c.started, float64(st.Started.UnixNano())/1e9)
	}
	for _, m := range c.b.Members() {
		if m.Self {
			continue
		}
		up := 0.0
		if m.Alive {
			up = 1
		}
		gauge(c.peerUp, up, m.Name)
		if m.LastHeard >= 0 {
			gauge(c.heard, m.LastHeard.Seconds(), m.Name)
		}
	}

	var sampled map[int]api.Sampled
	if c.sampled != nil {
		sampled = c.sampled()
	}
	for _, p := range c.b.SyncStats() {
		if sm, ok := sampled[p.Peer]; ok {
			gauge(c.bwUsed, float64(sm.BandwidthUsed)/8, p.Name)
			if !sm.LastFullSync.IsZero() {
				gauge(c.lastFull, float64(sm.LastFullSync.UnixNano())/1e9, p.Name)
			}
		}
		for _, f := range api.SyncFields {
			v := f.Value(&p.Counters)
			labels := []string{p.Name}
			if f.Reason != "" {
				labels = append(labels, f.Reason)
			}
			switch f.Kind {
			case api.KindCount, api.KindBytes:
				counter(c.sync[f.Metric], v, labels...)
			case api.KindNanos:
				gauge(c.sync[f.Metric], v/1e9, labels...)
			default:
				gauge(c.sync[f.Metric], v, labels...)
			}
		}
		ch <- prometheus.MustNewConstSummary(c.lag, p.Lag.Count, p.Lag.Sum.Seconds(),
			map[float64]float64{0.5: p.Lag.P50.Seconds(), 0.99: p.Lag.P99.Seconds(), 1: p.Lag.Max.Seconds()}, p.Name)
		gauge(c.bwLimit, float64(p.BandwidthLimit)/8, p.Name)
		d := &p.Delay
		gauge(c.remedy.base, d.Base.Seconds(), p.Name)
		enabled := 0.0
		if d.Remediation {
			enabled = 1
			gauge(c.remedy.lag, d.LagP99.Seconds(), p.Name)
			gauge(c.remedy.backlog, float64(d.Backlog), p.Name)
		}
		gauge(c.remedy.enabled, enabled, p.Name)
		counter(c.remedy.steps, float64(d.StepsUp), p.Name, "up")
		counter(c.remedy.steps, float64(d.StepsDown), p.Name, "down")
	}

	if ws, err := c.b.Workers(); err != nil {
		ch <- prometheus.NewInvalidMetric(c.dropped, fmt.Errorf("reading the dataplane's counters: %w", err))
	} else {
		ifname := map[string]string{"inside": ws.Inside, "outside": ws.Outside}
		for _, w := range ws.Workers {
			q := strconv.Itoa(w.Queue)
			for name, v := range w.Counters {
				if reason, ok := strings.CutPrefix(name, "drop_"); ok {
					counter(c.dropped, float64(v), q, reason)
					continue
				}
				m, ok := c.worker[name]
				switch {
				case !ok:
				case m.side != "":
					counter(m.desc, float64(v), ifname[m.side], q)
				default:
					counter(m.desc, float64(v), q)
				}
			}
		}
		for reason, v := range ws.Steering {
			counter(c.steering, float64(v), reason)
		}
	}

	if socks, err := c.b.Sockets(); err != nil {
		ch <- prometheus.NewInvalidMetric(c.xsk[0].desc, fmt.Errorf("reading AF_XDP statistics: %w", err))
	} else {
		for _, s := range socks {
			q := strconv.Itoa(s.Queue)
			for _, x := range c.xsk {
				counter(x.desc, float64(x.get(&s.Stats)), s.Interface, q)
			}
		}
	}
}

// Handler returns the /metrics handler: the Collector (sampled as in
// New), the Go runtime's and the process's metrics.
func Handler(b api.Backend, sampled func() map[int]api.Sampled, log *slog.Logger) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{New(b, sampled), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       10 * time.Second,
	}), nil
}

// Server serves /metrics on a TCP address.
type Server struct {
	hs *http.Server
	ln net.Listener
}

// Serve listens on addr (config metrics.listen) and serves /metrics
// until Close.
func Serve(addr string, b api.Backend, sampled func() map[int]api.Sampled, log *slog.Logger) (*Server, error) {
	h, err := Handler(b, sampled, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	s := &Server{hs: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() {
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Error("metrics server", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.hs.Shutdown(ctx)
}
