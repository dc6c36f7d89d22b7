package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Config is the content of a tandemd config file. The TOML keys are the
// field tags; docs/config.md and example.toml describe each one.
//
// A Config read by Parse or Load is complete: defaults are filled in and
// every value has been checked. A Config built in code should start from
// Defaults() and be checked with Validate.
type Config struct {
	Member     Member               `toml:"member"`
	Interfaces map[string]Interface `toml:"interfaces"` // by interface name
	Cores      Cores                `toml:"cores"`
	Sync       Sync                 `toml:"sync"`
	Peers      []Peer               `toml:"peers"`
	HA         HA                   `toml:"ha"`
	NAT        NAT                  `toml:"nat"`
	Policy     Policy               `toml:"policy"`
	Conntrack  Conntrack            `toml:"conntrack"`
	BusyPoll   BusyPoll             `toml:"busy_poll"`
	XDP        XDP                  `toml:"xdp"`
	API        API                  `toml:"api"`
	Metrics    Metrics              `toml:"metrics"`
}

// Member is this gateway's identity in the cluster.
type Member struct {
	ID       int    `toml:"id"`       // 1..255, unique in the cluster; required
	Name     string `toml:"name"`     // for logs and tandemctl; default "member<ID>"
	Priority int    `toml:"priority"` // 0..255, higher is preferred as active; default 100
}

// Role is what an interface is for.
type Role string

// The interface roles.
const (
	RoleInside  Role = "inside"  // towards the protected network; new connections allowed from here
	RoleOutside Role = "outside" // towards the untrusted network; SNAT happens here
	RoleSync    Role = "sync"    // the dedicated link to the other members (CCP)
)

// Interface is one network interface the engine owns.
type Interface struct {
	Role      Role     `toml:"role"`      // inside, outside or sync; required
	Queues    int      `toml:"queues"`    // rx/tx queue pairs the engine binds, 1..256; required
	Addresses []Prefix `toml:"addresses"` // this member's addresses on the link, with their prefix length; at least one
}

// Cores pins the engine's threads to CPU cores.
type Cores struct {
	ControlPlane int      `toml:"control_plane"` // core for the Go runtime's other threads: API, netlink, timers; default 0
	SyncWorker   int      `toml:"sync_worker"`   // core of the sync worker; NoCore (the default) is allowed only without peers
	Workers      []Worker `toml:"workers"`       // one busy-polling dataplane worker each
	WorkerNice   int      `toml:"worker_nice"`   // nice value of the dataplane workers' threads, -20..19; default -10
}

// NoCore is the value of Cores.SyncWorker when none is given.
const NoCore = -1

// Worker is one dataplane worker: a goroutine locked to an OS thread pinned
// to Core, serving the listed queues of the inside and outside interfaces.
type Worker struct {
	Core   int              `toml:"core"`
	Queues map[string][]int `toml:"queues"` // interface name → queue indexes
}

// Sync configures state replication over the sync interface (CCP).
type Sync struct {
	Address             Addr      `toml:"address"`              // local CCP address; default: the sync interface's address of the peers' family
	Port                int       `toml:"port"`                 // UDP port, the same on every member; default 8116
	ClusterID           int       `toml:"cluster_id"`           // 1..65535, carried in every frame; default 1
	KeyFile             string    `toml:"key_file"`             // absolute path of the AEAD cluster key; empty: frames are not authenticated (warned)
	MaxBandwidth        Bandwidth `toml:"max_bandwidth"`        // token-bucket limit on sync traffic; "0" (default) is unlimited
	DelayedNotification Duration  `toml:"delayed_notification"` // connections younger than this are not synced; default 3s
	HeartbeatInterval   Duration  `toml:"heartbeat_interval"`   // 10ms..10s; default 20ms
	DeadCount           int       `toml:"dead_count"`           // heartbeats missed before a peer is dead, 2..100; default 5 (100 ms with the default interval)
	MTU                 int       `toml:"mtu"`                  // sync link MTU, 1280..9000; default 1500
	Transport           string    `toml:"transport"`            // udp (default: the kernel's socket) or afxdp (an AF_XDP socket on the sync interface)
	// Remediation is [sync.remediation]: opt-in raising of
	// delayed_notification while the sync link is under pressure.
	Remediation Remediation `toml:"remediation"`
}

// Remediation is the opt-in, telemetry-driven remediation of sync
// pressure: while the sync lag or backlog stays above its threshold for
// Hold, the delayed-notification delay is raised one Step, up to MaxDelay;
// once both stay below half their thresholds for Hold, it is lowered one
// step, down to delayed_notification (control/remediate; docs/operations.md).
type Remediation struct {
	Enabled        bool     `toml:"enabled"`         // default false
	LagThreshold   Duration `toml:"lag_threshold"`   // sync lag p99 over the last second above this is pressure, 1ms..10s; default 50ms
	QueueThreshold int      `toml:"queue_threshold"` // records waiting to be sent above this is pressure, 100..100000000; default 100000
	Hold           Duration `toml:"hold"`            // how long pressure (or calm) must last before a step, 1s..10m; default 2s
	Step           string   `toml:"step"`            // a factor ("2x", 1.1x to 10x) or a duration to add ("1s", 100ms to 1m); default "2x"
	MaxDelay       Duration `toml:"max_delay"`       // the cap, above delayed_notification, 1s..10m; default 30s
}

// ParseStep reads sync.remediation.step: a factor the delay is multiplied
// by ("2x", 1.1x to 10x) or a duration added to it ("1s", 100ms to 1m).
// It returns one of the two, the other zero.
func ParseStep(s string) (factor float64, add time.Duration, err error) {
	s = strings.TrimSpace(s)
	if f, ok := strings.CutSuffix(s, "x"); ok {
		v, perr := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if perr != nil || !(v >= 1.1 && v <= 10) {
			return 0, 0, errors.New("a factor must be 1.1x to 10x, e.g. \"2x\"")
		}
		return v, 0, nil
	}
	d, perr := time.ParseDuration(s)
	if perr != nil {
		return 0, 0, errors.New("want a factor (\"2x\", 1.1x to 10x) or a duration to add (\"1s\", 100ms to 1m)")
	}
	if d < 100*time.Millisecond || d > time.Minute {
		return 0, 0, errors.New("a duration to add must be 100ms to 1m")
	}
	return 0, d, nil
}

// Sync transports.
const (
	SyncUDP   = "udp"   // the kernel's UDP socket
	SyncAFXDP = "afxdp" // an AF_XDP socket on the sync interface, with its own steering program
)

// Peer is another member of the cluster, reached over the sync link.
type Peer struct {
	ID      int    `toml:"id"`      // its member id; required
	Name    string `toml:"name"`    // default "member<ID>"
	Address Addr   `toml:"address"` // its address on the sync link; required
	// DataAddresses are the peer's own addresses on the inside and
	// outside links. Heartbeats go there too, so that a failed sync link
	// is not taken for a dead peer (split brain). Optional; without them
	// a sync-link failure makes both members active (warned).
	DataAddresses []Addr `toml:"data_addresses"`
}

// HA configures the virtual addresses the active member holds.
type HA struct {
	Preempt bool              `toml:"preempt"` // a returning member of higher priority takes the active role back; default false
	VIPs    map[string][]Addr `toml:"vips"`    // interface name → virtual addresses on it
}

// NAT configures address translation on the outside interface.
type NAT struct {
	Enabled       bool        `toml:"enabled"`        // default false
	SNAT          []AddrRange `toml:"snat"`           // source address pool for connections from inside; required when enabled
	Ports         PortRange   `toml:"ports"`          // source ports SNAT allocates from; default 1024-65535
	PreservePorts bool        `toml:"preserve_ports"` // keep the original source port when it is free; default false
	Forward       []Forward   `toml:"forward"`        // DNAT port forwards
}

// Protocol is a transport protocol name.
type Protocol string

// The protocols a rule can name.
const (
	ProtoAny    Protocol = "any"
	ProtoTCP    Protocol = "tcp"
	ProtoUDP    Protocol = "udp"
	ProtoICMP   Protocol = "icmp"
	ProtoICMPv6 Protocol = "icmpv6"
)

// Forward is a DNAT port forward: new connections to Address:Ports from
// outside go to ToAddress:ToPort on the inside.
type Forward struct {
	Protocol  Protocol  `toml:"protocol"`   // tcp or udp; required
	Address   Addr      `toml:"address"`    // outside destination address; required
	Ports     PortRange `toml:"ports"`      // outside destination port or range; required
	ToAddress Addr      `toml:"to_address"` // inside address; required, same family
	ToPort    int       `toml:"to_port"`    // first inside port; 0 (default) keeps the port
}

// Side is where a new connection starts.
type Side string

// The sides a rule can name.
const (
	SideAny     Side = "any"
	SideInside  Side = "inside"
	SideOutside Side = "outside"
)

// Policy is the stateful filter. Packets of an allowed connection pass both
// ways; packets that are invalid for the connection's state are dropped,
// always. A new connection is allowed if AllowFromInside covers it or an
// Allow rule matches; otherwise it is dropped.
type Policy struct {
	AllowFromInside bool   `toml:"allow_from_inside"` // new connections started on the inside are allowed; default true
	AllowRelated    bool   `toml:"allow_related"`     // ICMP errors about an allowed connection pass both ways; default true
	Allow           []Rule `toml:"allow"`
}

// Rule allows new connections that match all of its fields. Empty lists
// match everything.
type Rule struct {
	Name        string      `toml:"name"`        // for logs and counters; default "allow[<index>]"
	From        Side        `toml:"from"`        // inside, outside or any (default)
	Source      []Prefix    `toml:"source"`      // source prefixes
	Destination []Prefix    `toml:"destination"` // destination prefixes
	Protocol    Protocol    `toml:"protocol"`    // tcp, udp, icmp, icmpv6 or any (default)
	Ports       []PortRange `toml:"ports"`       // destination ports; tcp and udp only
}

// Conntrack sizes the connection table and sets its timeouts.
type Conntrack struct {
	MaxEntries int      `toml:"max_entries"` // 1024..268435456; default 1048576
	TCPPickup  bool     `toml:"tcp_pickup"`  // track TCP connections first seen mid-stream; default false
	Timeouts   Timeouts `toml:"timeouts"`
}

// Timeouts are how long an idle connection stays in the table, by state.
type Timeouts struct {
	TCPSynSent     Duration `toml:"tcp_syn_sent"`    // default 2m
	TCPSynRecv     Duration `toml:"tcp_syn_recv"`    // default 1m
	TCPEstablished Duration `toml:"tcp_established"` // default 1h
	TCPFinWait     Duration `toml:"tcp_fin_wait"`    // default 2m
	TCPCloseWait   Duration `toml:"tcp_close_wait"`  // default 1m
	TCPLastAck     Duration `toml:"tcp_last_ack"`    // default 30s
	TCPTimeWait    Duration `toml:"tcp_time_wait"`   // default 2m
	TCPClose       Duration `toml:"tcp_close"`       // default 10s
	UDP            Duration `toml:"udp"`             // one-way or single-exchange UDP; default 30s
	UDPStream      Duration `toml:"udp_stream"`      // UDP seen both ways more than once; default 2m
	ICMP           Duration `toml:"icmp"`            // echo and the like; default 30s
}

// Idle fallbacks: what a worker does when its rings are empty.
const (
	IdlePoll       = "poll"        // sleep in poll(2) until the socket is readable
	IdleNeedWakeup = "need_wakeup" // yield the thread, kick the kernel only when it sets need_wakeup
)

// BusyPoll configures busy polling of the AF_XDP sockets.
type BusyPoll struct {
	Enabled      bool     `toml:"enabled"`        // SO_PREFER_BUSY_POLL with the options below; default false
	Timeout      Duration `toml:"timeout"`        // SO_BUSY_POLL, whole microseconds, 1us..1s; default 20us
	Budget       int      `toml:"budget"`         // SO_BUSY_POLL_BUDGET, packets a round, 1..65535; default 64
	IdleFallback string   `toml:"idle_fallback"`  // poll or need_wakeup (default)
	SpinWhenIdle bool     `toml:"spin_when_idle"` // never sleep: lowest latency, a whole core; default false
}

// XDP configures the XDP program attachment and the AF_XDP sockets.
type XDP struct {
	AttachMode     string `toml:"attach_mode"`     // auto (default), native or generic
	BindMode       string `toml:"bind_mode"`       // auto (default), zero-copy or copy
	FrameSize      int    `toml:"frame_size"`      // UMEM frame bytes, a power of two, 2048..page size; default 4096
	RxRing         int    `toml:"rx_ring"`         // descriptors, a power of two 64..65536; default 2048
	TxRing         int    `toml:"tx_ring"`         // default 2048
	FillRing       int    `toml:"fill_ring"`       // default 2048
	CompletionRing int    `toml:"completion_ring"` // default 2048
}

// API configures tandemctl's access to the daemon.
type API struct {
	Socket    string `toml:"socket"`     // unix socket path, absolute; default /run/tandem/tandemd.sock
	TCP       string `toml:"tcp"`        // optional ip:port to also listen on; empty (default) is off
	TokenFile string `toml:"token_file"` // absolute path of the bearer token; required with TCP
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Listen string `toml:"listen"` // ip:port; empty (default) is off
}

// Defaults returns a Config holding every default and nothing else: no
// member id, interfaces, workers or peers. Parse decodes a file over it, so
// a key the file leaves out keeps its default and a key the file sets, even
// to zero, is checked as written.
func Defaults() Config {
	return Config{
		Member: Member{Priority: 100},
		Cores:  Cores{ControlPlane: 0, SyncWorker: NoCore, WorkerNice: -10},
		Sync: Sync{
			Port:                8116,
			ClusterID:           1,
			DelayedNotification: D(3 * time.Second),
			HeartbeatInterval:   D(20 * time.Millisecond),
			DeadCount:           5,
			MTU:                 1500,
			Transport:           SyncUDP,
			Remediation: Remediation{
				LagThreshold: D(50 * time.Millisecond), QueueThreshold: 100_000,
				Hold: D(2 * time.Second), Step: "2x", MaxDelay: D(30 * time.Second),
			},
		},
		NAT: NAT{Ports: Ports(1024, 65535)},
		Policy: Policy{
			AllowFromInside: true,
			AllowRelated:    true,
		},
		Conntrack: Conntrack{
			MaxEntries: 1 << 20,
			Timeouts: Timeouts{
				TCPSynSent:     D(2 * time.Minute),
				TCPSynRecv:     D(time.Minute),
				TCPEstablished: D(time.Hour),
				TCPFinWait:     D(2 * time.Minute),
				TCPCloseWait:   D(time.Minute),
				TCPLastAck:     D(30 * time.Second),
				TCPTimeWait:    D(2 * time.Minute),
				TCPClose:       D(10 * time.Second),
				UDP:            D(30 * time.Second),
				UDPStream:      D(2 * time.Minute),
				ICMP:           D(30 * time.Second),
			},
		},
		BusyPoll: BusyPoll{
			Timeout:      D(20 * time.Microsecond),
			Budget:       64,
			IdleFallback: IdleNeedWakeup,
		},
		XDP: XDP{
			AttachMode:     "auto",
			BindMode:       "auto",
			FrameSize:      4096,
			RxRing:         2048,
			TxRing:         2048,
			FillRing:       2048,
			CompletionRing: 2048,
		},
		API: API{Socket: "/run/tandem/tandemd.sock"},
	}
}

// applyDefaults fills in the defaults that depend on other values: names
// from ids, the local sync address from the sync interface, protocol and
// side of rules. It runs after decoding and before validation.
func (c *Config) applyDefaults() {
	if c.Member.Name == "" {
		c.Member.Name = memberName(c.Member.ID)
	}
	for i := range c.Peers {
		if c.Peers[i].Name == "" {
			c.Peers[i].Name = memberName(c.Peers[i].ID)
		}
	}
	if !c.Sync.Address.IsValid() && c.Sync.Address.raw == "" && len(c.Peers) > 0 && c.Peers[0].Address.IsValid() {
		if _, ifc, ok := c.InterfaceByRole(RoleSync); ok {
			for _, p := range ifc.Addresses {
				if p.IsValid() && p.Addr().Is4() == c.Peers[0].Address.Is4() {
					c.Sync.Address = Addr{Addr: p.Addr()}
					break
				}
			}
		}
	}
	for i := range c.Policy.Allow {
		r := &c.Policy.Allow[i]
		if r.Name == "" {
			r.Name = index("allow", i)
		}
		if r.From == "" {
			r.From = SideAny
		}
		if r.Protocol == "" {
			r.Protocol = ProtoAny
		}
	}
}

func memberName(id int) string {
	return "member" + itoa(id)
}

// InterfaceByRole returns the first interface (by name) with role r.
func (c *Config) InterfaceByRole(r Role) (string, Interface, bool) {
	for _, name := range c.InterfaceNames() {
		if c.Interfaces[name].Role == r {
			return name, c.Interfaces[name], true
		}
	}
	return "", Interface{}, false
}

// InterfaceNames returns the interface names in sorted order.
func (c *Config) InterfaceNames() []string {
	return sortedKeys(c.Interfaces)
}
