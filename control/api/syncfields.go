package api

import (
	"reflect"
	"strings"

	"github.com/tandem-gw/tandem/syncpath"
)

// Kind is how a sync figure reads.
type Kind uint8

// The kinds of sync figures.
const (
	KindCount Kind = iota // cumulative count
	KindBytes             // cumulative bytes
	KindNanos             // a duration in ns, as of the last event (gauge)
	KindGauge             // a level, as of the last poll
	KindBool              // yes or no
)

// SyncField is one figure of syncpath.Counters as the operator sees it:
// its label in `tandemctl syncstat` and its Prometheus metric. SyncFields
// lists every field of syncpath.Counters (a test checks it), so that
// syncstat and the metrics endpoint show the same figures.
type SyncField struct {
	Path   string // Go field path in syncpath.Counters, e.g. "Rejected.Auth"
	Label  string // syncstat row
	Dir    string // "sent" or "received" for the two columns of a pair; "" otherwise
	Kind   Kind
	Metric string // Prometheus name, units in the name
	Reason string // value of the "reason" label, for rejected frames
	Help   string
}

// SyncFields lists the figures in syncstat's order.
var SyncFields = append([]SyncField{
	{"FramesSent", "frames", "sent", KindCount, "tandem_sync_frames_sent_total", "", "CCP datagrams sealed and sent to the peer"},
	{"FramesReceived", "frames", "received", KindCount, "tandem_sync_frames_received_total", "", "CCP datagrams from the peer opened and accepted"},
	{"RecordsSent", "records", "sent", KindCount, "tandem_sync_records_sent_total", "", "connection records sent in delta and full-sync frames, retransmissions included"},
	{"RecordsReceived", "records", "received", KindCount, "tandem_sync_records_received_total", "", "connection records received in delta and full-sync frames"},
	{"BytesSent", "bytes", "sent", KindBytes, "tandem_sync_bytes_sent_total", "", "CCP datagram bytes sent"},
	{"BytesReceived", "bytes", "received", KindBytes, "tandem_sync_bytes_received_total", "", "CCP datagram bytes received"},
	{"HeartbeatsSent", "heartbeats", "sent", KindCount, "tandem_sync_heartbeats_sent_total", "", "heartbeats sent"},
	{"HeartbeatsReceived", "heartbeats", "received", KindCount, "tandem_sync_heartbeats_received_total", "", "heartbeats received"},
	{"AcksSent", "acks", "sent", KindCount, "tandem_sync_acks_sent_total", "", "ACK frames sent"},
	{"AcksReceived", "acks", "received", KindCount, "tandem_sync_acks_received_total", "", "ACK frames received"},
	{"NacksSent", "nacks", "sent", KindCount, "tandem_sync_nacks_sent_total", "", "nack ranges sent in ACK frames"},
	{"NacksReceived", "nacks", "received", KindCount, "tandem_sync_nacks_received_total", "", "nack ranges received in ACK frames"},
	{"FullSyncRequests", "full sync requests", "sent", KindCount, "tandem_sync_full_sync_requests_sent_total", "", "FULLSYNC_REQUEST frames sent"},
	{"FullSyncsAsked", "full sync requests", "received", KindCount, "tandem_sync_full_sync_requests_received_total", "", "FULLSYNC_REQUEST frames received"},
	{"FullSyncsSent", "full syncs done", "sent", KindCount, "tandem_sync_full_syncs_sent_total", "", "snapshots streamed to the peer and acknowledged"},
	{"FullSyncsReceived", "full syncs done", "received", KindCount, "tandem_sync_full_syncs_received_total", "", "snapshots received from the peer completely"},
	{"FullSyncNanos", "last full sync took", "sent", KindNanos, "tandem_sync_full_sync_sent_duration_seconds", "", "duration of the last full sync sent, start to DONE acknowledged"},
	{"FullSyncRecvNanos", "last full sync took", "received", KindNanos, "tandem_sync_full_sync_received_duration_seconds", "", "duration of the last full sync received, request to DONE"},
	{"FullSyncsStarted", "full syncs started", "", KindCount, "tandem_sync_full_syncs_started_total", "", "snapshots this member began streaming"},
	{"Retransmits", "retransmits", "", KindCount, "tandem_sync_retransmits_total", "", "frames resent, on nack or timeout"},
	{"TimeoutRetransmits", "of which on timeout", "", KindCount, "tandem_sync_timeout_retransmits_total", "", "frames resent because their ack timed out"},
	{"Abandoned", "abandoned frames", "", KindCount, "tandem_sync_abandoned_frames_total", "", "unacked frames dropped from the window when a full sync superseded them"},
	{"DuplicateData", "duplicate frames", "", KindCount, "tandem_sync_duplicate_frames_total", "", "reliable frames received again"},
	{"Coalesced", "coalesced records", "", KindCount, "tandem_sync_coalesced_records_total", "", "records merged into a waiting record of the same connection"},
	{"Suppressed", "suppressed (delayed notification)", "", KindCount, "tandem_sync_suppressed_connections_total", "", "connections that ended within the notification delay and were never sent"},
	{"WindowStalls", "window stalls", "", KindCount, "tandem_sync_window_stalls_total", "", "polls with data to send and a full retransmit window"},
	{"BandwidthStalls", "bandwidth stalls", "", KindCount, "tandem_sync_bandwidth_stalls_total", "", "polls with data to send and no bandwidth tokens (sync.max_bandwidth)"},
	{"SendErrors", "send errors", "", KindCount, "tandem_sync_send_errors_total", "", "transport send failures"},
	{"SinkOverflow", "sink overflow", "", KindCount, "tandem_sync_sink_overflow_records_total", "", "records the full sync queue refused"},
	{"SinkOverflowDeletes", "of which deletes", "", KindCount, "tandem_sync_sink_overflow_deletes_total", "", "delete records the full sync queue refused (cannot be retried)"},
	{"QueueDepth", "queue depth", "", KindGauge, "tandem_sync_queue_depth_records", "", "records waiting: in the queue, held by the notification delay, or to be packed"},
	{"InFlight", "in flight", "", KindGauge, "tandem_sync_in_flight_frames", "", "frames sent and not yet acknowledged"},
	{"Applied", "records applied", "", KindCount, "tandem_sync_records_applied_total", "", "peer records applied to the local table"},
	{"ApplyStale", "records stale", "", KindCount, "tandem_sync_records_stale_total", "", "peer records ignored: duplicate or older version"},
	{"ApplyConflict", "records in conflict", "", KindCount, "tandem_sync_records_conflict_total", "", "peer records refused: NAT reply tuple held by another connection"},
	{"ApplyFull", "records refused, table full", "", KindCount, "tandem_sync_records_table_full_total", "", "peer records refused because the local table is full"},
	{"StaleRemoved", "stale entries removed", "", KindCount, "tandem_sync_stale_removed_total", "", "backup entries a full sync showed the peer no longer has"},
	{"Malformed", "malformed frames", "", KindCount, "tandem_sync_malformed_frames_total", "", "authenticated frames whose body did not decode"},
	{"Foreign", "foreign frames", "", KindCount, "tandem_sync_foreign_frames_total", "", "authenticated frames from a member other than the peer"},
	{"PeerRestarts", "peer restarts", "", KindCount, "tandem_sync_peer_restarts_total", "", "new boot epochs seen from the peer"},
	{"PeerAlive", "peer alive", "", KindBool, "tandem_sync_peer_up", "", "1 while the peer is heard within its timeout"},
	{"RTT", "heartbeat round trip", "", KindNanos, "tandem_sync_rtt_seconds", "", "last heartbeat round trip"},
	{"Rejected.Opened", "frames opened", "", KindCount, "tandem_sync_frames_opened_total", "", "frames authenticated and accepted by the opener"},
}, rejectedFields()...)

// rejectedFields are the opener's rejection reasons, one metric with a
// reason label.
func rejectedFields() []SyncField {
	var out []SyncField
	t := reflect.TypeFor[syncpath.Counters]()
	f, _ := t.FieldByName("Rejected")
	for i := range f.Type.NumField() {
		name := f.Type.Field(i).Name
		if name == "Opened" {
			continue
		}
		reason := snake(name)
		out = append(out, SyncField{
			Path: "Rejected." + name, Label: "rejected: " + strings.ReplaceAll(reason, "_", " "), Kind: KindCount,
			Metric: "tandem_sync_frames_rejected_total", Reason: reason, Help: "frames the opener refused, by reason",
		})
	}
	return out
}

// snake writes a Go field name in snake case: StaleEpoch is stale_epoch.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Value reads the field from c as a number: counts and gauges as they
// are, durations in nanoseconds, booleans as 0 or 1.
func (f SyncField) Value(c *syncpath.Counters) float64 {
	v := reflect.ValueOf(c).Elem()
	for p := range strings.SplitSeq(f.Path, ".") {
		v = v.FieldByName(p)
		if !v.IsValid() {
			return 0
		}
	}
	switch v.Kind() {
	case reflect.Uint64:
		return float64(v.Uint())
	case reflect.Int, reflect.Int64:
		return float64(v.Int())
	case reflect.Bool:
		if v.Bool() {
			return 1
		}
	}
	return 0
}
