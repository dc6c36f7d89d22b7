package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// twoCores is the lab machine: the control plane on core 0, the rest on 1.
var twoCores = Machine{CPUs: []int{0, 1}, PageSize: 4096}

// manyCores pretends a 64-core machine whose interfaces all exist.
var manyCores = Machine{CPUs: seq(0, 63), PageSize: 4096, HasInterface: func(string) bool { return true }}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// edit returns gw1's embedded config with each pair (old, new) replaced once;
// an old text that is not there fails the test.
func edit(t *testing.T, pairs ...string) []byte {
	t.Helper()
	s := string(DefaultTOML())
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("edit: %q is not in gw1.toml", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

// problemsOf parses data against m and returns the problems, failing the test
// unless the error is a *ValidationError.
func problemsOf(t *testing.T, data []byte, m Machine) *ValidationError {
	t.Helper()
	c, _, err := Parse(data, m)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse: err = %v (%T), config %v; want a *ValidationError", err, err, c != nil)
	}
	if c != nil {
		t.Fatal("Parse returned a config with an error")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("errors.Is(err, ErrInvalid) = false")
	}
	return ve
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []string // edit pairs over gw1.toml
		m      *Machine // default twoCores
		key    string   // a problem with exactly this key path
		reason string   // and this in its reason
	}{
		// Decoding.
		{"unknown key", []string{"priority = 200", "priority = 200\nprioity = 1"}, nil, "member.prioity", "unknown key"},
		{"unknown section", []string{"[member]", "[bogus]\nx = 1\n\n[member]"}, nil, "bogus", "unknown key"},
		{"unknown key in a worker", []string{"{ core = 1, queues", "{ core = 1, cpu = 2, queues"}, nil, "cores.workers[0].cpu", "unknown key"},
		{"unknown key in a map", []string{"in0 = [0, 1]", "in0 = [0, 1], x = { y = 1 }"}, nil, "cores.workers", "want an array, not a table"}, // go-toml's key
		{"unknown key in an interface", []string{"queues = 2", "queues = 2\nmtu = 9000"}, nil, "interfaces.in0.mtu", "unknown key"},
		{"unknown key in peers", []string{"name = \"gw2\"", "nickname = \"gw2\""}, nil, "peers[0].nickname", "unknown key"},
		{"key in the wrong case", []string{"priority = 200", "Priority = 200"}, nil, "member.Priority", "keys are case-sensitive, did you mean priority?"},
		{"table in the wrong case", []string{"[ha]", "[HA]"}, nil, "HA", "did you mean ha?"},
		{"bad type", []string{"queues = 2", `queues = "2"`}, nil, "interfaces.in0.queues", "wrong type: want an integer, not a string"},
		{"bad type bool", []string{"preempt = false", `preempt = "no"`}, nil, "ha.preempt", "want true or false"},
		{"syntax", []string{"[member]", "[member"}, nil, "", "expected ']'"},

		// Member.
		{"member id 0", []string{"id = 1\n", "id = 0\n"}, nil, "member.id", "must be 1 to 255"},
		{"member id 256", []string{"id = 1\n", "id = 256\n"}, nil, "member.id", "must be 1 to 255"},
		{"member name", []string{`name = "gw1"`, `name = "gw 1"`}, nil, "member.name", "letters, digits"},
		{"priority", []string{"priority = 200", "priority = 300"}, nil, "member.priority", "must be 0 to 255"},

		// Interfaces.
		{"no role", []string{"role = \"inside\"\n", ""}, nil, "interfaces.in0.role", "required"},
		{"bad role", []string{`role = "inside"`, `role = "lan"`}, nil, "interfaces.in0.role", "want inside, outside or sync"},
		{"two inside", []string{`role = "outside"`, `role = "inside"`}, nil, "interfaces.out0.role", "in0 is the inside interface already"},
		{"no outside", []string{`role = "outside"`, `role = "inside"`}, nil, "interfaces", "no outside interface"},
		{"queues 0", []string{"queues = 2", "queues = 0"}, nil, "interfaces.in0.queues", "must be 1 to 256"},
		{"bad prefix", []string{`"10.77.1.2/24"`, `"10.77.1.2/33"`}, nil, "interfaces.in0.addresses[0]", "not a prefix"},
		{"prefix without length", []string{`"10.77.1.2/24"`, `"10.77.1.2"`}, nil, "interfaces.in0.addresses[0]", "the /length is missing"},
		{"network address", []string{`"10.77.1.2/24"`, `"10.77.1.0/24"`}, nil, "interfaces.in0.addresses[0]", "subnet's own address"},
		{"broadcast address", []string{`"10.77.1.2/24"`, `"10.77.1.255/24"`}, nil, "interfaces.in0.addresses[0]", "broadcast"},
		{"loopback address", []string{`"10.77.1.2/24"`, `"127.0.0.2/8"`}, nil, "interfaces.in0.addresses[0]", "not a unicast address"},
		{"no addresses", []string{`addresses = ["10.77.2.2/24", "fd77:2::2/64"]`, "addresses = []"}, nil, "interfaces.out0.addresses", "empty"},
		{"overlapping subnets", []string{`"10.77.2.2/24"`, `"10.77.1.9/24"`}, nil, "interfaces.out0.addresses[0]", "overlaps interfaces.in0.addresses[0]"},
		{"address twice", []string{`"10.77.2.2/24"`, `"10.77.1.2/24"`}, nil, "interfaces.out0.addresses[0]", "given twice"},
		{"bad interface name", []string{"[interfaces.sync0]", `[interfaces."sync/0"]`}, nil, `interfaces."sync/0"`, "not a Linux interface name"},
		{"interface missing", nil, &Machine{HasInterface: func(n string) bool { return n != "out0" }}, "interfaces.out0", "interface out0 does not exist on this machine"},

		// Cores.
		{"core does not exist", []string{"sync_worker = 1", "sync_worker = 7"}, nil, "cores.sync_worker", "core 7 does not exist on this machine (cores 0-1)"},
		{"worker core does not exist", []string{"{ core = 1,", "{ core = 2,"}, nil, "cores.workers[0].core", "core 2 does not exist on this machine (cores 0-1)"},
		{"control plane core", []string{"control_plane = 0", "control_plane = 64"}, &manyCores, "cores.control_plane", "core 64 does not exist on this machine (cores 0-63)"},
		{"negative core", []string{"control_plane = 0", "control_plane = -1"}, nil, "cores.control_plane", "not a core"},
		{"worker nice", []string{"control_plane = 0", "control_plane = 0\nworker_nice = -21"}, nil, "cores.worker_nice", "must be -20 to 19"},
		{"core given twice", []string{"in0 = [0, 1], out0 = [0, 1] } },", "in0 = [0], out0 = [0] } },\n  { core = 1, queues = { in0 = [1], out0 = [1] } },"}, nil, "cores.workers[1].core", "core 1 is given twice (also cores.workers[0].core)"},
		{"worker for undeclared interface", []string{"out0 = [0, 1] }", "out0 = [0, 1], eth9 = [0] }"}, nil, "cores.workers[0].queues.eth9", "interface eth9 is not declared"},
		{"queue beyond count", []string{"in0 = [0, 1]", "in0 = [0, 1, 2]"}, nil, "cores.workers[0].queues.in0[2]", "queue 2 does not exist: in0 has 2 queues"},
		{"negative queue", []string{"in0 = [0, 1]", "in0 = [0, 1, -1]"}, nil, "cores.workers[0].queues.in0[2]", "queue -1 does not exist"},
		{"queue given twice", []string{"in0 = [0, 1]", "in0 = [0, 1, 1]"}, nil, "cores.workers[0].queues.in0[2]", "queue 1 of in0 is given twice (also cores.workers[0].queues.in0[1])"},
		{"queue without worker", []string{"out0 = [0, 1]", "out0 = [1]"}, nil, "cores.workers", "queue 0 of out0 has no worker"},
		{"no workers", []string{"workers = [\n  { core = 1, queues = { in0 = [0, 1], out0 = [0, 1] } },\n]", "workers = []"}, nil, "cores.workers", "queues 0-1 of in0 have no worker"},
		{"worker without queues", []string{"{ core = 1, queues = { in0 = [0, 1], out0 = [0, 1] } },", "{ core = 1, queues = { in0 = [0, 1], out0 = [0, 1] } },\n  { core = 0 },"}, nil, "cores.workers[1].queues", "empty"},
		{"sync interface on a worker", []string{"out0 = [0, 1] }", "out0 = [0, 1], sync0 = [0] }"}, nil, "cores.workers[0].queues.sync0", "sync interface"},
		{"no sync worker", []string{"sync_worker = 1\n", ""}, nil, "cores.sync_worker", "required: [[peers]] are given"},

		// Sync and peers.
		{"port 0", []string{"port = 8116", "port = 0"}, nil, "sync.port", "must be 1 to 65535"},
		{"port 70000", []string{"port = 8116", "port = 70000"}, nil, "sync.port", "must be 1 to 65535"},
		{"bad duration", []string{`delayed_notification = "3s"`, `delayed_notification = "3x"`}, nil, "sync.delayed_notification", "not a duration"},
		{"duration without unit", []string{`delayed_notification = "3s"`, `delayed_notification = 3`}, nil, "sync.delayed_notification", "the unit is missing"},
		{"negative duration", []string{`delayed_notification = "3s"`, `delayed_notification = "-1s"`}, nil, "sync.delayed_notification", "must be 0 to 10m"},
		{"bad bandwidth", []string{"port = 8116", `port = 8116` + "\nmax_bandwidth = \"800Mibt\""}, nil, "sync.max_bandwidth", `unknown unit "Mibt"`},
		{"ambiguous bandwidth", []string{"port = 8116", `port = 8116` + "\nmax_bandwidth = \"800Mbps\""}, nil, "sync.max_bandwidth", "ambiguous"},
		{"tiny bandwidth", []string{"port = 8116", `port = 8116` + "\nmax_bandwidth = \"800kbit\""}, nil, "sync.max_bandwidth", "below 1Mbit"},
		{"heartbeat", []string{"port = 8116", "port = 8116\nheartbeat_interval = \"1ms\""}, nil, "sync.heartbeat_interval", "must be 10ms to 10s"},
		{"dead count", []string{"port = 8116", "port = 8116\ndead_count = 1"}, nil, "sync.dead_count", "must be 2 to 100"},
		{"mtu", []string{"port = 8116", "port = 8116\nmtu = 65536"}, nil, "sync.mtu", "must be 1280 to 9000"},
		{"relative key file", []string{"port = 8116", "port = 8116\nkey_file = \"cluster.key\""}, nil, "sync.key_file", "absolute path"},
		{"sync address not ours", []string{"port = 8116", "port = 8116\naddress = \"10.77.3.9\""}, nil, "sync.address", "not an address of the sync interface sync0"},
		{"peer id is ours", []string{"id = 2\nname = \"gw2\"", "id = 1\nname = \"gw2\""}, nil, "peers[0].id", "this member's own id"},
		{"peer id twice", []string{"address = \"10.77.3.2\"", "address = \"10.77.3.2\"\n\n[[peers]]\nid = 2\naddress = \"10.77.3.3\""}, nil, "peers[1].id", "member id 2 is given twice (also peers[0].id)"},
		{"peer off link", []string{`address = "10.77.3.2"`, `address = "10.77.4.2"`}, nil, "peers[0].address", "not on the sync link: not inside any subnet of sync0 (10.77.3.0/24, fd77:3::/64)"},
		{"peer is us", []string{`address = "10.77.3.2"`, `address = "10.77.3.1"`}, nil, "peers[0].address", "own address"},
		{"peer address missing", []string{"address = \"10.77.3.2\"\n", ""}, nil, "peers[0].address", "required"},
		{"peer bad address", []string{`address = "10.77.3.2"`, `address = "10.77.3.2/24"`}, nil, "peers[0].address", "without a /length"},
		{"remediation lag threshold", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nlag_threshold = \"0s\"\n\n[[peers]]"}, nil, "sync.remediation.lag_threshold", "must be 1ms to 10s"},
		{"remediation lag threshold bad", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nlag_threshold = \"50\"\n\n[[peers]]"}, nil, "sync.remediation.lag_threshold", "the unit is missing"},
		{"remediation queue threshold", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nqueue_threshold = 10\n\n[[peers]]"}, nil, "sync.remediation.queue_threshold", "must be 100 to 100000000"},
		{"remediation hold", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nhold = \"100ms\"\n\n[[peers]]"}, nil, "sync.remediation.hold", "must be 1s to 10m (the lag is measured over the last second"},
		{"remediation step", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nstep = \"double\"\n\n[[peers]]"}, nil, "sync.remediation.step", `want a factor ("2x", 1.1x to 10x) or a duration to add ("1s", 100ms to 1m)`},
		{"remediation step factor", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nstep = \"1x\"\n\n[[peers]]"}, nil, "sync.remediation.step", "a factor must be 1.1x to 10x"},
		{"remediation step duration", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nstep = \"5m\"\n\n[[peers]]"}, nil, "sync.remediation.step", "a duration to add must be 100ms to 1m"},
		{"remediation max delay", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nmax_delay = \"1h\"\n\n[[peers]]"}, nil, "sync.remediation.max_delay", "must be 1s to 10m"},
		{"remediation max delay below base", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nmax_delay = \"2s\"\n\n[[peers]]"}, nil, "sync.remediation.max_delay", "not above sync.delayed_notification (3s): no room to raise the delay"},
		{"remediation unknown key", []string{"[[peers]]", "[sync.remediation]\nenabled = true\nthreshold = 5\n\n[[peers]]"}, nil, "sync.remediation.threshold", "unknown key"},
		{"sync transport", []string{"port = 8116", "port = 8116\ntransport = \"xdp\""}, nil, "sync.transport", `must be "udp" or "afxdp"`},
		{"peer data address is us", []string{`"10.77.1.3", "10.77.2.3"`, `"10.77.1.2", "10.77.2.3"`}, nil, "peers[0].data_addresses[0]", "own address on in0"},
		{"peer data address off the data links", []string{`"10.77.1.3", "10.77.2.3"`, `"10.77.1.3", "10.77.3.2"`}, nil, "peers[0].data_addresses[1]", "not on an inside or outside link"},
		{"peers without sync interface", []string{"role = \"sync\"", "role = \"outside\""}, nil, "peers", "no interface has role sync"},

		// HA.
		{"VIP off subnet", []string{`in0 = ["10.77.1.1"`, `in0 = ["10.77.9.1"`}, nil, "ha.vips.in0[0]", "is not inside any subnet of in0 (10.77.1.0/24, fd77:1::/64)"},
		{"VIP is our address", []string{`in0 = ["10.77.1.1"`, `in0 = ["10.77.1.2"`}, nil, "ha.vips.in0[0]", "own address"},
		{"VIP twice", []string{`"fd77:1::1"]`, `"fd77:1::1", "10.77.1.1"]`}, nil, "ha.vips.in0[2]", "given twice (also ha.vips.in0[0])"},
		{"VIP bad", []string{`in0 = ["10.77.1.1"`, `in0 = ["10.77.1.300"`}, nil, "ha.vips.in0[0]", "not an IPv4 or IPv6 address"},
		{"VIP on undeclared interface", []string{"vips = {", "vips = { eth9 = [\"10.0.0.1\"],"}, nil, "ha.vips.eth9", "not declared"},
		{"VIP on sync", []string{"vips = {", "vips = { sync0 = [\"10.77.3.9\"],"}, nil, "ha.vips.sync0", "sync interface"},

		// NAT.
		{"snat empty", []string{`snat = ["10.77.2.100"]`, "snat = []"}, nil, "nat.snat", "empty: nat is enabled"},
		{"snat bad", []string{`snat = ["10.77.2.100"]`, `snat = ["10.77.2.100-10.77.2.90"]`}, nil, "nat.snat[0]", "above the last"},
		{"snat mixed range", []string{`snat = ["10.77.2.100"]`, `snat = ["10.77.2.100-fd77:2::1"]`}, nil, "nat.snat[0]", "different families"},
		{"snat overlap", []string{`snat = ["10.77.2.100"]`, `snat = ["10.77.2.96/29", "10.77.2.100"]`}, nil, "nat.snat[1]", "overlaps nat.snat[0]"},
		{"snat ports lo>hi", []string{`ports = "20000-59999"`, `ports = "59999-20000"`}, nil, "nat.ports", "the low end is above the high end"},
		{"snat port 0", []string{`ports = "20000-59999"`, `ports = "0-59999"`}, nil, "nat.ports", "port 0 is out of range"},
		{"snat port 70000", []string{`ports = "20000-59999"`, `ports = "20000-70000"`}, nil, "nat.ports", "port 70000 is out of range"},
		{"forward protocol", []string{"preserve_ports = false", "preserve_ports = false\n" + forward("icmp", "10.77.2.100", "8080", "10.77.1.10", 80)}, nil, "nat.forward[0].protocol", "want tcp or udp"},
		{"forward family", []string{"preserve_ports = false", "preserve_ports = false\n" + forward("tcp", "10.77.2.100", "8080", "fd77:1::10", 80)}, nil, "nat.forward[0].to_address", "no NAT64"},
		{"forward port", []string{"preserve_ports = false", "preserve_ports = false\n" + forward("tcp", "10.77.2.100", "0", "10.77.1.10", 80)}, nil, "nat.forward[0].ports", "out of range"},
		{"forward to_port", []string{"preserve_ports = false", "preserve_ports = false\n" + forward("tcp", "10.77.2.100", "8080", "10.77.1.10", 70000)}, nil, "nat.forward[0].to_port", "must be 1 to 65535"},
		{"forward range end", []string{"preserve_ports = false", "preserve_ports = false\n" + forward("tcp", "10.77.2.100", "8000-8010", "10.77.1.10", 65530)}, nil, "nat.forward[0].to_port", "beyond 65535"},
		{"forward overlap", []string{"preserve_ports = false", "preserve_ports = false\n" + forward("tcp", "10.77.2.100", "8000-8010", "10.77.1.10", 0) + forward("tcp", "10.77.2.100", "8010", "10.77.1.11", 0)}, nil, "nat.forward[1].ports", "overlaps nat.forward[0]"},
		{"forward missing", []string{"preserve_ports = false", "preserve_ports = false\n[[nat.forward]]\nprotocol = \"tcp\"\n"}, nil, "nat.forward[0].to_address", "required"},

		// Policy.
		{"rule bad prefix", []string{"[xdp]", rule(`source = ["10.0.0.0/40"]`) + "[xdp]"}, nil, "policy.allow[0].source[0]", "not a prefix"},
		{"rule bad protocol", []string{"[xdp]", rule(`protocol = "sctp"`) + "[xdp]"}, nil, "policy.allow[0].protocol", "want tcp, udp, icmp, icmpv6 or any"},
		{"rule bad side", []string{"[xdp]", rule(`from = "dmz"`) + "[xdp]"}, nil, "policy.allow[0].from", "want inside, outside or any"},
		{"rule ports without tcp", []string{"[xdp]", rule(`protocol = "icmp"`, `ports = ["80"]`) + "[xdp]"}, nil, "policy.allow[0].ports", "ports need protocol tcp or udp"},
		{"rule port 70000", []string{"[xdp]", rule(`protocol = "tcp"`, `ports = [80, "70000"]`) + "[xdp]"}, nil, "policy.allow[0].ports[1]", "out of range"},
		{"rule port lo>hi", []string{"[xdp]", rule(`protocol = "udp"`, `ports = ["90-80"]`) + "[xdp]"}, nil, "policy.allow[0].ports[0]", "low end is above"},
		{"rule families", []string{"[xdp]", rule(`source = ["10.0.0.0/8"]`, `destination = ["fd77:1::/64"]`) + "[xdp]"}, nil, "policy.allow[0].destination", "no address family in common"},
		{"rule icmp on v6", []string{"[xdp]", rule(`protocol = "icmp"`, `destination = ["fd77:1::/64"]`) + "[xdp]"}, nil, "policy.allow[0].protocol", "use icmpv6"},

		// Conntrack.
		{"max entries", []string{"[xdp]", "[conntrack]\nmax_entries = 10\n\n[xdp]"}, nil, "conntrack.max_entries", "must be 1024 to 268435456"},
		{"timeout 0", []string{"[xdp]", "[conntrack.timeouts]\nudp = \"0s\"\n\n[xdp]"}, nil, "conntrack.timeouts.udp", "must be 1s to 720h"},
		{"timeout bad", []string{"[xdp]", "[conntrack.timeouts]\ntcp_established = \"5d\"\n\n[xdp]"}, nil, "conntrack.timeouts.tcp_established", "not a duration"},

		// Busy polling and XDP.
		{"busy poll timeout", []string{"[xdp]", "[busy_poll]\ntimeout = \"1500ns\"\n\n[xdp]"}, nil, "busy_poll.timeout", "whole number of microseconds"},
		{"busy poll budget", []string{"[xdp]", "[busy_poll]\nbudget = 0\n\n[xdp]"}, nil, "busy_poll.budget", "must be 1 to 65535"},
		{"idle fallback", []string{"[xdp]", "[busy_poll]\nidle_fallback = \"spin\"\n\n[xdp]"}, nil, "busy_poll.idle_fallback", "want poll or need_wakeup"},
		{"bind mode", []string{`bind_mode = "copy"`, `bind_mode = "zerocopy"`}, nil, "xdp.bind_mode", "want auto, zero-copy or copy"},
		{"attach mode", []string{`bind_mode = "copy"`, `bind_mode = "copy"` + "\nattach_mode = \"skb\""}, nil, "xdp.attach_mode", "want auto, native or generic"},
		{"frame size", []string{`bind_mode = "copy"`, `bind_mode = "copy"` + "\nframe_size = 3000"}, nil, "xdp.frame_size", "power of two from 2048 to the page size (4096)"},
		{"frame size page", []string{`bind_mode = "copy"`, `bind_mode = "copy"` + "\nframe_size = 8192"}, nil, "xdp.frame_size", "page size (4096)"},
		{"ring size", []string{`bind_mode = "copy"`, `bind_mode = "copy"` + "\nfill_ring = 1000"}, nil, "xdp.fill_ring", "power of two from 64 to 65536"},

		// API and metrics.
		{"api relative socket", []string{`socket = "/run/tandem/gw1.sock"`, `socket = "tandemd.sock"`}, nil, "api.socket", "absolute path"},
		{"api tcp without token", []string{`socket = "/run/tandem/gw1.sock"`, "socket = \"/run/tandem/gw1.sock\"\ntcp = \"127.0.0.1:8117\""}, nil, "api.token_file", "required when api.tcp is set"},
		{"api tcp bad", []string{`socket = "/run/tandem/gw1.sock"`, "tcp = \"localhost:8117\"\ntoken_file = \"/t\""}, nil, "api.tcp", "want ip:port"},
		{"metrics port 0", []string{"[xdp]", "[metrics]\nlisten = \"127.0.0.1:0\"\n\n[xdp]"}, nil, "metrics.listen", "port 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := twoCores
			if tc.m != nil {
				m = *tc.m
			}
			ve := problemsOf(t, edit(t, tc.data...), m)
			for _, p := range ve.Problems {
				if p.Key == tc.key && strings.Contains(p.Reason, tc.reason) {
					if !strings.Contains(ve.Error(), p.String()) {
						t.Errorf("Error() lacks %q", p.String())
					}
					return
				}
			}
			t.Errorf("no problem %s: ...%s...; got:\n%v", tc.key, tc.reason, ve)
		})
	}
}

func forward(proto, addr, ports, to string, toPort int) string {
	return "\n[[nat.forward]]\nprotocol = \"" + proto + "\"\naddress = \"" + addr + "\"\nports = \"" + ports +
		"\"\nto_address = \"" + to + "\"\nto_port = " + itoa(toPort) + "\n"
}

func rule(lines ...string) string {
	return "[[policy.allow]]\n" + strings.Join(lines, "\n") + "\n\n"
}

// One pass finds every problem, in every section.
func TestAllProblemsAtOnce(t *testing.T) {
	data := edit(t,
		"id = 1\n", "id = 0\n",
		"sync_worker = 1", "sync_worker = 9",
		"in0 = [0, 1]", "in0 = [0, 1, 5]",
		`delayed_notification = "3s"`, `delayed_notification = "soon"`,
		`in0 = ["10.77.1.1"`, `in0 = ["10.77.8.1"`,
		`ports = "20000-59999"`, `ports = "9-1"`,
	)
	ve := problemsOf(t, data, twoCores)
	want := []string{"member.id", "cores.sync_worker", "cores.workers[0].queues.in0[2]", "sync.delayed_notification", "ha.vips.in0[0]", "nat.ports"}
	for _, k := range want {
		if !ve.Has(k) {
			t.Errorf("no problem for %s", k)
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ve.Problems), len(want), ve)
	}
	lines := strings.Split(ve.Error(), "\n")
	if len(lines) != len(want)+1 || lines[0] != "config: 6 problems" {
		t.Errorf("Error() =\n%s", ve.Error())
	}
}

func TestUnknownKeysAllReported(t *testing.T) {
	ve := problemsOf(t, edit(t,
		"priority = 200", "priorty = 200",
		"[xdp]", "[xdp]\nbnd_mode = \"copy\"",
		"[ha]", "[hA]",
	), twoCores)
	for _, p := range []Problem{
		{Key: "member.priorty", Reason: "unknown key", Line: 9},
		{Key: "hA", Reason: "unknown key: keys are case-sensitive, did you mean ha?", Line: 43},
		{Key: "xdp.bnd_mode", Reason: "unknown key", Line: 54},
	} {
		found := false
		for _, q := range ve.Problems {
			found = found || q == p
		}
		if !found {
			t.Errorf("no problem %+v in\n%v", p, ve)
		}
	}
}

func TestDecodeErrorLine(t *testing.T) {
	ve := problemsOf(t, edit(t, "queues = 2", "queues = [2]"), twoCores)
	want := Problem{Key: "interfaces.in0.queues", Value: "[2]", Reason: "wrong type: want an integer, not an array", Line: 13}
	if len(ve.Problems) != 1 || ve.Problems[0] != want {
		t.Fatalf("problems %+v, want %+v", ve.Problems, want)
	}
	if got := want.String(); got != "line 13: interfaces.in0.queues = [2]: wrong type: want an integer, not an array" {
		t.Errorf("String() = %q", got)
	}
}

func TestSourceInError(t *testing.T) {
	_, _, err := Parse(edit(t, "id = 1\n", "id = 0\n"), twoCores, WithSource("gw1.toml"))
	if err == nil || !strings.HasPrefix(err.Error(), "config gw1.toml: 1 problem\n\tmember.id = 0: must be 1 to 255") {
		t.Errorf("err = %v", err)
	}
}

func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []string
		key    string
		reason string
	}{
		{"worker on the control-plane core", []string{"{ core = 1,", "{ core = 0,"}, "cores.workers[0].core", "shares core 0 with the control plane"},
		{"sync worker on the control-plane core", []string{"sync_worker = 1", "sync_worker = 0"}, "cores.sync_worker", "shares core 0 with the control plane"},
		{"delayed notification 0", []string{`delayed_notification = "3s"`, `delayed_notification = "0s"`}, "sync.delayed_notification", "every connection is synced"},
		{"spin on a shared core", []string{"[xdp]", "[busy_poll]\nspin_when_idle = true\n\n[xdp]"}, "busy_poll.spin_when_idle", "spins on the sync worker's core"},
		{"spin on the control plane", []string{"{ core = 1,", "{ core = 0,", "[xdp]", "[busy_poll]\nspin_when_idle = true\n\n[xdp]"}, "busy_poll.spin_when_idle", "spins on the control plane's core"},
		{"no key file", nil, "sync.key_file", "not authenticated"},
		{"no data addresses", []string{"data_addresses = [\"10.77.1.3\", \"10.77.2.3\"]\n", ""}, "peers[0].data_addresses", "split brain"},
		{"slow failover", []string{"port = 8116", "port = 8116\nheartbeat_interval = \"5s\""}, "sync.dead_count", "noticed only after 25s"},
		{"snat off link", []string{`snat = ["10.77.2.100"]`, `snat = ["192.0.2.1-192.0.2.4"]`}, "nat.snat[0]", "not on the outside link of out0 (10.77.2.0/24, fd77:2::/64)"},
		{"snat low ports", []string{`ports = "20000-59999"`, `ports = "500-59999"`}, "nat.ports", "below 1024"},
		{"nat disabled", []string{"enabled = true", "enabled = false"}, "nat.enabled", "ignored"},
		{"host bits", []string{"[xdp]", rule(`source = ["10.77.2.9/24"]`) + "[xdp]"}, "policy.allow[0].source[0]", "it means 10.77.2.0/24"},
		{"api on the network", []string{`socket = "/run/tandem/gw1.sock"`, "tcp = \"0.0.0.0:8117\"\ntoken_file = \"/etc/tandem/api.token\""}, "api.tcp", "reachable from the network"},
		{"unused token", []string{`socket = "/run/tandem/gw1.sock"`, "socket = \"/run/tandem/gw1.sock\"\ntoken_file = \"/etc/tandem/api.token\""}, "api.token_file", "unused"},
		{"standalone", []string{"[[peers]]\nid = 2\nname = \"gw2\"\naddress = \"10.77.3.2\"\ndata_addresses = [\"10.77.1.3\", \"10.77.2.3\"]\n", "", "sync_worker = 1\n", ""}, "interfaces.sync0", "standalone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, warnings, err := Parse(edit(t, tc.data...), twoCores)
			if err != nil || c == nil {
				t.Fatalf("Parse: %v", err)
			}
			for _, w := range warnings {
				if w.Key == tc.key && strings.Contains(w.Reason, tc.reason) {
					return
				}
			}
			t.Errorf("no warning %s: ...%s...; got %v", tc.key, tc.reason, warnings)
		})
	}
}

func TestGoodFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		m    Machine
		// check looks at the parsed config.
		check func(t *testing.T, c *Config)
	}{
		{"minimal standalone", `
[member]
id = 7

[interfaces.eth1]
role = "inside"
queues = 1
addresses = ["192.168.1.1/24"]

[interfaces.eth2]
role = "outside"
queues = 1
addresses = ["2001:db8::1/64"]

[cores]
workers = [{ core = 1, queues = { eth1 = [0], eth2 = [0] } }]
`, twoCores, func(t *testing.T, c *Config) {
			d := Defaults()
			if c.Member.Name != "member7" || c.Member.Priority != 100 || c.Cores.SyncWorker != NoCore {
				t.Errorf("member %+v, sync worker %d", c.Member, c.Cores.SyncWorker)
			}
			if c.Sync.Port != 8116 || c.Sync.DelayedNotification.Duration != d.Sync.DelayedNotification.Duration || c.Conntrack != d.Conntrack || c.BusyPoll != d.BusyPoll || c.XDP != d.XDP || c.API != d.API {
				t.Errorf("defaults not kept: %+v", c)
			}
			if c.NAT.Enabled || c.NAT.Ports != Ports(1024, 65535) || !c.Policy.AllowFromInside || !c.Policy.AllowRelated {
				t.Errorf("nat %+v policy %+v", c.NAT, c.Policy)
			}
		}},
		{"64 cores, a worker a queue pair", `
[member]
id = 255
[interfaces.in0]
role = "inside"
queues = 4
addresses = ["10.0.1.1/24"]
[interfaces.out0]
role = "outside"
queues = 4
addresses = ["10.0.2.1/24"]
[interfaces.ha0]
role = "sync"
queues = 1
addresses = ["fd00::1/64"]
[cores]
control_plane = 0
sync_worker = 63
workers = [
  { core = 8, queues = { in0 = [0], out0 = [0] } },
  { core = 9, queues = { in0 = [1], out0 = [1] } },
  { core = 10, queues = { in0 = [2], out0 = [2] } },
  { core = 11, queues = { in0 = [3], out0 = [3] } },
]
[sync]
max_bandwidth = "1Gbit"
key_file = "/etc/tandem/key"
[[peers]]
id = 254
address = "fd00::2"
data_addresses = ["10.0.1.2", "10.0.2.2"]
[[peers]]
id = 1
address = "fd00::3"
data_addresses = ["10.0.1.3"]
[nat]
enabled = true
snat = ["10.0.2.16/28", "10.0.2.100-10.0.2.101"]
preserve_ports = true
[[nat.forward]]
protocol = "udp"
address = "10.0.2.16"
ports = 53
to_address = "10.0.1.53"
[[policy.allow]]
protocol = "icmpv6"
[[policy.allow]]
from = "outside"
protocol = "tcp"
ports = [443, "8000-8100"]
destination = ["10.0.1.0/24"]
`, manyCores, func(t *testing.T, c *Config) {
			if c.Sync.Address.String() != "fd00::1" || c.Sync.MaxBandwidth.BitsPerSecond != 1e9 {
				t.Errorf("sync %+v", c.Sync)
			}
			if c.Peers[0].Name != "member254" || len(c.Cores.Workers) != 4 {
				t.Errorf("peers %+v", c.Peers)
			}
			if s := c.NAT.SNAT[0]; s.From.String() != "10.0.2.16" || s.To.String() != "10.0.2.31" {
				t.Errorf("snat %+v", s)
			}
			if f := c.NAT.Forward[0]; f.Ports != Ports(53, 53) && f.Ports.Lo != 53 {
				t.Errorf("forward %+v", f)
			}
			r := c.Policy.Allow[1]
			if r.Name != "allow[1]" || r.Ports[0].Lo != 443 || r.Ports[1].Hi != 8100 || c.Policy.Allow[0].From != SideAny {
				t.Errorf("rule %+v", r)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, w, err := Parse([]byte(tc.data), tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if len(w) != 0 {
				t.Errorf("warnings: %v", w)
			}
			tc.check(t, c)
			if w2, err := c.Validate(tc.m); err != nil || len(w2) != 0 {
				t.Errorf("Validate again: %v, %v", w2, err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "gw1.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, DefaultTOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, edit(t, "sync_worker = 1", "sync_worker = 7"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Check(good, twoCores, &out); err != nil {
		t.Fatal(err)
	}
	want := good + ": config OK\nwarning: sync.key_file = \"\": not set: sync frames are not authenticated and anyone on the sync link can inject state (acceptable in the lab only)\n"
	if out.String() != want {
		t.Errorf("Check output\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	err := Check(bad, twoCores, &out)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Check(bad) = %v", err)
	}
	if !strings.Contains(out.String(), "config "+bad+": 1 problem\n\tcores.sync_worker = 7: core 7 does not exist on this machine (cores 0-1)\n") {
		t.Errorf("Check output\n%s", out.String())
	}
	out.Reset()
	if err := Check(filepath.Join(dir, "none.toml"), twoCores, &out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Check(missing) = %v", err)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw1.toml")
	if err := os.WriteFile(path, DefaultTOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load(path)
	if HostHasInterface("in0") && HostHasInterface("out0") && HostHasInterface("sync0") {
		t.Skip("this namespace has the lab's interfaces")
	}
	var ve *ValidationError
	if c != nil || !errors.As(err, &ve) || !ve.Has("interfaces.in0") {
		t.Errorf("Load outside the lab: %v", err)
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "none.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

// A section the file sets in part keeps the defaults of the keys it leaves
// out; a key set to zero is checked as written, not replaced by its default.
func TestPartialSectionKeepsDefaults(t *testing.T) {
	c, _, err := Parse(edit(t, "[xdp]", "[conntrack.timeouts]\nudp = \"45s\"\n\n[xdp]"), twoCores)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults().Conntrack.Timeouts
	want.UDP = D(45 * time.Second)
	if c.Conntrack.Timeouts != want {
		t.Errorf("timeouts %+v, want %+v", c.Conntrack.Timeouts, want)
	}
	if c.XDP.BindMode != "copy" || c.XDP.AttachMode != "auto" || c.XDP.RxRing != 2048 {
		t.Errorf("xdp %+v", c.XDP)
	}
	ve := problemsOf(t, edit(t, "[xdp]", "[busy_poll]\nbudget = 0\n\n[xdp]"), twoCores)
	if !ve.Has("busy_poll.budget") {
		t.Errorf("budget = 0 was not checked: %v", ve)
	}
}

// TestRemediation: [sync.remediation] is off by default with its
// documented defaults, and a table that enables it parses as written.
func TestRemediation(t *testing.T) {
	c, _, err := Parse(DefaultTOML(), twoCores)
	if err != nil {
		t.Fatal(err)
	}
	want := Remediation{LagThreshold: D(50 * time.Millisecond), QueueThreshold: 100_000, Hold: D(2 * time.Second), Step: "2x", MaxDelay: D(30 * time.Second)}
	if c.Sync.Remediation != want {
		t.Errorf("defaults %+v, want %+v", c.Sync.Remediation, want)
	}
	c, _, err = Parse(edit(t, "[[peers]]", "[sync.remediation]\nenabled = true\nlag_threshold = \"20ms\"\nqueue_threshold = 5000\nhold = \"5s\"\nstep = \"500ms\"\nmax_delay = \"10s\"\n\n[[peers]]"), twoCores)
	if err != nil {
		t.Fatal(err)
	}
	want = Remediation{Enabled: true, LagThreshold: D(20 * time.Millisecond), QueueThreshold: 5000, Hold: D(5 * time.Second), Step: "500ms", MaxDelay: D(10 * time.Second)}
	if c.Sync.Remediation != want {
		t.Errorf("parsed %+v, want %+v", c.Sync.Remediation, want)
	}
	for _, tc := range []struct {
		in     string
		factor float64
		add    time.Duration
	}{{"2x", 2, 0}, {" 1.5x", 1.5, 0}, {"10x", 10, 0}, {"1s", 0, time.Second}, {"100ms", 0, 100 * time.Millisecond}} {
		if f, a, err := ParseStep(tc.in); err != nil || f != tc.factor || a != tc.add {
			t.Errorf("ParseStep(%q) = %v, %v, %v; want %v, %v", tc.in, f, a, err, tc.factor, tc.add)
		}
	}
}
