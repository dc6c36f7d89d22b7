// Package metrics exposes a running tandemd to Prometheus: a collector that
// reads the operator API's Backend (control/api) at scrape time, so the
// packet path pays nothing for it, and the HTTP endpoint that serves it
// (config metrics.listen).
//
// Names carry their unit (tandem_sync_bytes_sent_total,
// tandem_sync_lag_seconds); labels are peer, interface, queue, reason and
// quantile only, so the series count does not grow with traffic. Every
// figure `tandemctl syncstat` prints is a metric (control/api.SyncFields
// names both; the API server's samples add bandwidth used and the time of
// the last full sync). Counters are never reset: `syncstat --reset` is a baseline
// in the API, not here.
package metrics
