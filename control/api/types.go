package api

import (
	"time"

	"github.com/tandem-gw/tandem/dataplane/xsk"
	"github.com/tandem-gw/tandem/syncpath"
)

// Status is GET /v1/status.
type Status struct {
	Member     int         `json:"member"` // this member's id
	Name       string      `json:"name"`
	Cluster    int         `json:"cluster"`
	Role       string      `json:"role"` // active, backup, none
	Priority   int         `json:"priority"`
	Started    time.Time   `json:"started"`
	Uptime     Duration    `json:"uptime"` // filled by the server
	Interfaces []Interface `json:"interfaces"`
	Cores      []Core      `json:"cores"` // the cores tandemd was told to use, by role
	Conns      int         `json:"conns"` // live connections in the table
	ConnsMax   int         `json:"conns_max"`
	Peers      int         `json:"peers"`
	Params     Params      `json:"params"`
}

// Interface is one interface the engine owns.
type Interface struct {
	Name   string `json:"name"`
	Role   string `json:"role"` // inside, outside, sync
	Queues int    `json:"queues"`
	Attach string `json:"attach,omitempty"` // how the XDP program is attached
}

// Core is a CPU core tandemd pins a thread to.
type Core struct {
	CPU  int    `json:"cpu"`
	Role string `json:"role"` // control_plane, sync_worker, worker
}

// Params are the runtime parameters (GET /v1/params).
type Params struct {
	// MaxBandwidth is sync.max_bandwidth in bits per second; 0 is unlimited.
	MaxBandwidth uint64 `json:"sync.max_bandwidth"`
	// DelayedNotification is sync.delayed_notification; 0 syncs every
	// connection at once.
	DelayedNotification Duration `json:"sync.delayed_notification"`
}

// Member is one member of the cluster (GET /v1/members).
type Member struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Self     bool   `json:"self"`
	Address  string `json:"address,omitempty"` // on the sync link
	Role     string `json:"role"`              // as this member knows it; a peer's from its heartbeats
	Priority int    `json:"priority"`
	Alive    bool   `json:"alive"`
	// LastHeard is how long ago the peer was last heard; -1 never (peers only).
	LastHeard Duration `json:"last_heard"`
	Epoch     uint32   `json:"epoch,omitempty"`
	Synced    bool     `json:"synced"` // holds a complete copy of the other member's connections
	Conns     int      `json:"conns"`  // connections in its table (a peer's from its heartbeats)
}

// Lag is the sync lag distribution of a peer: for each frame, the time
// from when its oldest record left the sink to its acknowledgement.
type Lag struct {
	Count uint64   `json:"count"` // frames measured
	Sum   Duration `json:"sum"`   // of their lags
	P50   Duration `json:"p50"`
	P99   Duration `json:"p99"`
	Max   Duration `json:"max"`
}

// PeerSync is one peer's sync figures (GET /v1/sync, `tandemctl syncstat`).
type PeerSync struct {
	Peer int    `json:"peer"`
	Name string `json:"name"`
	// Counters are the session's counters, less the baseline taken by
	// the last reset (cumulative fields only; gauges are as read).
	Counters syncpath.Counters `json:"counters"`
	Lag      Lag               `json:"lag"` // since tandemd started (not reset)
	// BandwidthLimit is sync.max_bandwidth in bits per second; 0 is unlimited.
	BandwidthLimit uint64 `json:"bandwidth_limit"`
	// BandwidthUsed is bits per second sent to the peer over the last
	// sampling second (filled by the server).
	BandwidthUsed uint64 `json:"bandwidth_used"`
	// LastFullSync is when the server first saw the count of completed full
	// syncs (either way) change, to its one-second sampling; zero: none seen.
	LastFullSync time.Time `json:"last_full_sync"`
	// LastFullSyncDuration is how long the last completed full sync took
	// (sent or received, whichever ended last).
	LastFullSyncDuration Duration  `json:"last_full_sync_duration"`
	ResetAt              time.Time `json:"reset_at"` // zero: never reset
	// Delay is the delayed-notification delay of the session and what
	// the opt-in remediation did with it (not reset).
	Delay DelayStatus `json:"delayed_notification"`
}

// DelayStatus is a session's delayed-notification delay: in effect, the
// base it returns to, and the steps the remediation (sync.remediation)
// took since tandemd started.
type DelayStatus struct {
	Delay Duration `json:"delay"` // in effect; 0: off
	// Base is sync.delayed_notification as configured or last set by
	// `tandemctl set`: the delay remediation steps up from and returns to.
	Base        Duration `json:"base"`
	Remediation bool     `json:"remediation"` // sync.remediation.enabled
	// The remediation's settings (zero when it is off).
	Max            Duration `json:"max_delay,omitempty"`
	LagThreshold   Duration `json:"lag_threshold,omitempty"`
	QueueThreshold int      `json:"queue_threshold,omitempty"`
	// LagP99 and Backlog are the figures the remediation last measured:
	// the sync lag p99 over the last second (0 with no frames acked)
	// and the records waiting to be sent, not those the delay holds.
	LagP99    Duration   `json:"lag_p99"`
	Backlog   int        `json:"backlog"`
	StepsUp   uint64     `json:"steps_up"`
	StepsDown uint64     `json:"steps_down"`
	LastStep  *DelayStep `json:"last_step,omitempty"` // nil: none yet
}

// DelayStep is one change the remediation made.
type DelayStep struct {
	At        time.Time `json:"at"`
	Direction string    `json:"direction"` // raised or lowered
	From      Duration  `json:"from"`
	To        Duration  `json:"to"`
	// Reason is what was measured against which threshold: "lag p99
	// 80ms > 50ms", "calm for 2s: lag p99 3ms ≤ 25ms, backlog 12 ≤ 50000
	// records".
	Reason string `json:"reason"`
}

// SyncStats is GET /v1/sync.
type SyncStats struct {
	Peers []PeerSync `json:"peers"`
}

// Socket is one AF_XDP socket's kernel statistics.
type Socket struct {
	Interface string         `json:"interface"`
	Queue     int            `json:"queue"`
	Stats     xsk.Statistics `json:"stats"`
}

// Sockets is GET /v1/sockets.
type Sockets struct {
	Sockets []Socket `json:"sockets"`
}

// Worker is one dataplane worker's counters. A worker serves one queue of
// the inside and the outside interface.
type Worker struct {
	Queue    int               `json:"queue"`
	CPU      int               `json:"cpu"`
	Counters map[string]uint64 `json:"counters"` // by dataplane.CounterName
}

// Workers is GET /v1/workers.
type Workers struct {
	Inside  string   `json:"inside"`  // interface names, for rx_inside and the like
	Outside string   `json:"outside"` //
	Workers []Worker `json:"workers"`
	// Drops sums the drop counters (those named drop_*) over the workers,
	// by reason, zeros left out.
	Drops map[string]uint64 `json:"drops"`
	// Steering is the XDP steering program's verdict counters.
	Steering map[string]uint64 `json:"steering"`
}

// Conn is one connection of the table.
type Conn struct {
	Proto   string `json:"proto"`
	Src     string `json:"src"`
	SrcPort uint16 `json:"sport"`
	Dst     string `json:"dst"`
	DstPort uint16 `json:"dport"`
	State   string `json:"state"`
	NAT     string `json:"nat,omitempty"` // snat or dnat
	NATAddr string `json:"nat_addr,omitempty"`
	NATPort uint16 `json:"nat_port,omitempty"`
	Owner   int    `json:"owner"`
	Backup  int    `json:"backup,omitempty"` // the member that takes it over; 0: none
	// Age is how long ago the connection was created; -1 when unknown
	// (connections owned by a peer carry the peer's clock).
	Age     Duration `json:"age"`
	Expires Duration `json:"expires"` // idle time left before it times out
	Assured bool     `json:"assured,omitempty"`
	Replied bool     `json:"replied,omitempty"`
	Version uint64   `json:"version"`
	Family  int      `json:"family"`
}

// Conns is GET /v1/conns: one page.
type Conns struct {
	Conns []Conn `json:"conns"`
	// Next is the cursor of the next page; empty when the table has been
	// covered.
	Next string `json:"next,omitempty"`
	// Scanned is how many table slots this page walked.
	Scanned int `json:"scanned"`
	// Total is the number of live connections in the table (all of them,
	// not only those matching).
	Total int `json:"total"`
}

// CPU is one core's usage.
type CPU struct {
	CPU  int     `json:"cpu"`
	Busy float64 `json:"busy"` // fraction of the last sampling interval not idle, 0..1
}

// CPUs is GET /v1/cpu.
type CPUs struct {
	CPUs []CPU `json:"cpus"`
}

// SetParam is the body of POST /v1/params.
type SetParam struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ParamResult is the reply to POST /v1/params: the value now in effect,
// and the one before, both as written in a config file.
type ParamResult struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Previous string `json:"previous"`
}

// FailoverResult is the reply to POST /v1/failover.
type FailoverResult struct {
	Before  string `json:"before"`
	After   string `json:"after"`
	Message string `json:"message"`
}

// Duration is a time.Duration that is nanoseconds in JSON.
type Duration = time.Duration
