package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validate checks every section and collects every problem and warning.
func (c *Config) validate(m Machine) *report {
	r := &report{}
	c.checkMember(r)
	c.checkInterfaces(r, m)
	c.checkCores(r, m)
	c.checkSync(r)
	c.checkPeers(r)
	c.checkHA(r)
	c.checkNAT(r)
	c.checkPolicy(r)
	c.checkConntrack(r)
	c.checkBusyPoll(r)
	c.checkXDP(r, m)
	c.checkAPI(r)
	return r
}

func (c *Config) checkMember(r *report) {
	if c.Member.ID < 1 || c.Member.ID > 255 {
		r.bad("member.id", c.Member.ID, "must be 1 to 255 (required, unique in the cluster)")
	}
	checkName(r, "member.name", c.Member.Name)
	intIn(r, "member.priority", c.Member.Priority, 0, 255)
}

func (c *Config) checkConntrack(r *report) {
	intIn(r, "conntrack.max_entries", c.Conntrack.MaxEntries, 1024, 1<<28)
	t := c.Conntrack.Timeouts
	for _, d := range []struct {
		name string
		d    Duration
	}{
		{"tcp_syn_sent", t.TCPSynSent},
		{"tcp_syn_recv", t.TCPSynRecv},
		{"tcp_established", t.TCPEstablished},
		{"tcp_fin_wait", t.TCPFinWait},
		{"tcp_close_wait", t.TCPCloseWait},
		{"tcp_last_ack", t.TCPLastAck},
		{"tcp_time_wait", t.TCPTimeWait},
		{"tcp_close", t.TCPClose},
		{"udp", t.UDP},
		{"udp_stream", t.UDPStream},
		{"icmp", t.ICMP},
	} {
		durIn(r, key("conntrack", "timeouts", d.name), d.d, time.Second, 720*time.Hour)
	}
}

func (c *Config) checkAPI(r *report) {
	a := c.API
	switch {
	case a.Socket == "":
		r.bad("api.socket", a.Socket, "required: the unix socket tandemctl connects to")
	case !filepath.IsAbs(a.Socket):
		r.bad("api.socket", a.Socket, "must be an absolute path")
	}
	checkAbs(r, "api.token_file", a.TokenFile)
	if a.TCP != "" {
		if ap, ok := checkListen(r, "api.tcp", a.TCP); ok && !ap.Addr().IsLoopback() {
			r.warn("api.tcp", a.TCP, "the API is reachable from the network: keep the token file secret")
		}
		if a.TokenFile == "" {
			r.bad("api.token_file", a.TokenFile, "required when api.tcp is set: the TCP API needs a bearer token")
		}
	} else if a.TokenFile != "" {
		r.warn("api.token_file", a.TokenFile, "unused: api.tcp is not set")
	}
	if c.Metrics.Listen != "" {
		checkListen(r, "metrics.listen", c.Metrics.Listen)
	}
}

// checkListen checks an ip:port to listen on.
func checkListen(r *report, k, s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		r.bad(k, s, "want ip:port, e.g. 127.0.0.1:9116 or [::1]:9116")
		return ap, false
	}
	if ap.Port() == 0 {
		r.bad(k, s, "port 0 is out of range: ports are 1 to 65535")
		return ap, false
	}
	return ap, true
}

// intIn reports v unless lo <= v <= hi.
func intIn(r *report, k string, v, lo, hi int) bool {
	if v < lo || v > hi {
		r.bad(k, v, "must be %d to %d", lo, hi)
		return false
	}
	return true
}

// durIn reports a duration that did not parse or is outside lo..hi.
func durIn(r *report, k string, d Duration, lo, hi time.Duration) bool {
	if !textOK(r, k, d) {
		return false
	}
	if d.Duration < lo || d.Duration > hi {
		r.bad(k, d, "must be %s to %s", FormatDuration(lo), FormatDuration(hi))
		return false
	}
	return true
}

// FormatDuration writes a duration the way the config and tandemctl show
// it: 0 as "0", without the zero units time.Duration.String leaves ("1m0s"
// is "1m").
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// textOK reports a value written as a string that did not parse.
func textOK(r *report, k string, v textValue) bool {
	if err := v.parseErr(); err != nil {
		r.bad(k, v, "%s", err.Error())
		return false
	}
	return true
}

// oneOf reports v unless it is one of allowed.
func oneOf(r *report, k, v string, allowed ...string) bool {
	if slices.Contains(allowed, v) {
		return true
	}
	r.bad(k, v, "want %s", orList(allowed))
	return false
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func checkAbs(r *report, k, path string) {
	if path != "" && !filepath.IsAbs(path) {
		r.bad(k, path, "must be an absolute path")
	}
}

// checkName checks a member name: 1 to 63 letters, digits, '.', '_', '-'.
func checkName(r *report, k, name string) {
	ok := name != "" && len(name) <= 63
	for _, ch := range name {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			ok = false
		}
	}
	if !ok {
		r.bad(k, name, "want 1 to 63 letters, digits, '.', '_' or '-'")
	}
}

func isPowerOfTwo(n int) bool { return n > 0 && n&(n-1) == 0 }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func itoa(n int) string { return strconv.Itoa(n) }

// plural writes n and the noun, with an "s" unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
