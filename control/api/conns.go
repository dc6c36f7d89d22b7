package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// Page limits of GET /v1/conns.
const (
	DefaultConnLimit = 100  // connections a page holds unless ?limit= says
	MaxConnLimit     = 1000 // the most a page may hold
	// ScanSlots bounds the table slots one page walks, so that a filter
	// matching little costs a bounded time per request; the reply's Next
	// continues the walk.
	ScanSlots = 1 << 18
	// chunkSlots is how many slots one RangeConns call walks.
	chunkSlots = 4096
)

// ConnFilter selects connections. Zero fields match everything.
type ConnFilter struct {
	Addr  netip.Addr // source, destination or NAT address
	Port  uint16     // source, destination or NAT port
	Proto uint8      // IP protocol number; 0: any
	State string     // conntrack state name (ESTABLISHED, UDP_REPLIED...), case-insensitive
}

// ConnQuery is a filter and a page.
type ConnQuery struct {
	ConnFilter
	Limit  int    // 0: DefaultConnLimit
	Cursor string // from the previous page's Next; empty: the start
}

// Values encodes q as the query string of GET /v1/conns.
func (q ConnQuery) Values() url.Values {
	v := url.Values{}
	if q.Addr.IsValid() {
		v.Set("addr", q.Addr.String())
	}
	if q.Port != 0 {
		v.Set("port", strconv.Itoa(int(q.Port)))
	}
	if q.Proto != 0 {
		v.Set("proto", ProtoName(q.Proto))
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v
}

var protoNames = map[string]uint8{"icmp": conntrack.ProtoICMP, "tcp": conntrack.ProtoTCP, "udp": conntrack.ProtoUDP, "icmpv6": conntrack.ProtoICMPv6}

// ProtoName names an IP protocol number (tcp, udp, icmp, icmpv6, or the number).
func ProtoName(p uint8) string {
	for n, v := range protoNames {
		if v == p {
			return n
		}
	}
	return strconv.Itoa(int(p))
}

// ParseProto reads a protocol name or number.
func ParseProto(s string) (uint8, error) {
	if p, ok := protoNames[strings.ToLower(s)]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("proto %q: want tcp, udp, icmp, icmpv6 or a protocol number 1 to 255", s)
	}
	return uint8(n), nil
}

// stateNames are the conntrack state names a filter accepts.
var stateNames = func() map[string]conntrack.State {
	m := map[string]conntrack.State{}
	for s := conntrack.StateSynSent; s.String() != "INVALID"; s++ {
		m[s.String()] = s
	}
	return m
}()

// ParseState reads a conntrack state name, any case.
func ParseState(s string) (string, error) {
	u := strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	if _, ok := stateNames[u]; ok {
		return u, nil
	}
	names := make([]string, 0, len(stateNames))
	for s := conntrack.StateSynSent; s.String() != "INVALID"; s++ {
		names = append(names, s.String())
	}
	return "", fmt.Errorf("state %q: want one of %s", s, strings.Join(names, ", "))
}

// ParseConnQuery reads the query string of GET /v1/conns.
func ParseConnQuery(v url.Values) (ConnQuery, error) {
	var q ConnQuery
	for k := range v {
		switch k {
		case "addr", "port", "proto", "state", "limit", "cursor":
		default:
			return q, fmt.Errorf("unknown parameter %q: want addr, port, proto, state, limit, cursor", k)
		}
	}
	var err error
	if s := v.Get("addr"); s != "" {
		if q.Addr, err = netip.ParseAddr(s); err != nil || q.Addr.Zone() != "" {
			return q, fmt.Errorf("addr %q: not an IPv4 or IPv6 address (no prefix length, no zone)", s)
		}
		q.Addr = q.Addr.Unmap()
	}
	if s := v.Get("port"); s != "" {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return q, fmt.Errorf("port %q: want 1 to 65535", s)
		}
		q.Port = uint16(n)
	}
	if s := v.Get("proto"); s != "" {
		if q.Proto, err = ParseProto(s); err != nil {
			return q, err
		}
	}
	if s := v.Get("state"); s != "" {
		if q.State, err = ParseState(s); err != nil {
			return q, err
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxConnLimit {
			return q, fmt.Errorf("limit %q: want 1 to %d", s, MaxConnLimit)
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		if _, err := strconv.ParseUint(s, 10, 32); err != nil {
			return q, fmt.Errorf("cursor %q: not a cursor from a previous page", s)
		}
		q.Cursor = s
	}
	return q, nil
}

func recordAddr(b [16]byte, family uint8) netip.Addr {
	if family == conntrack.FamilyIPv4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

func (f *ConnFilter) match(r *conntrack.Record) bool {
	if f.Proto != 0 && r.Key.Proto != f.Proto {
		return false
	}
	if f.State != "" && r.State.String() != f.State {
		return false
	}
	nat := r.NAT != conntrack.NATNone
	if f.Addr.IsValid() {
		a := f.Addr.AsSlice()
		fam := uint8(conntrack.FamilyIPv6)
		if f.Addr.Is4() {
			fam = conntrack.FamilyIPv4
		}
		if r.Key.Family != fam {
			return false
		}
		eq := func(b [16]byte) bool { return string(b[:len(a)]) == string(a) }
		if !eq(r.Key.Src) && !eq(r.Key.Dst) && !(nat && eq(r.NATAddr)) {
			return false
		}
	}
	if f.Port != 0 && r.Key.SrcPort != f.Port && r.Key.DstPort != f.Port && !(nat && r.NATPort == f.Port) {
		return false
	}
	return true
}

// connOf turns a record into its JSON form. self is this member's id,
// backup the member that takes over a connection this member owns (0:
// none), now the table's clock.
func connOf(r *conntrack.Record, self, backup uint8, now int64) Conn {
	c := Conn{
		Proto:   ProtoName(r.Key.Proto),
		Family:  int(r.Key.Family),
		Src:     recordAddr(r.Key.Src, r.Key.Family).String(),
		SrcPort: r.Key.SrcPort,
		Dst:     recordAddr(r.Key.Dst, r.Key.Family).String(),
		DstPort: r.Key.DstPort,
		State:   r.State.String(),
		Owner:   int(r.Owner),
		Age:     -1,
		Expires: time.Duration(r.Timeout) * time.Millisecond,
		Assured: r.Flags&conntrack.RecAssured != 0,
		Replied: r.Flags&conntrack.RecSeenReply != 0,
		Version: r.Version,
	}
	switch r.NAT {
	case conntrack.NATSource:
		c.NAT = "snat"
	case conntrack.NATDestination:
		c.NAT = "dnat"
	}
	if c.NAT != "" {
		c.NATAddr = recordAddr(r.NATAddr, r.Key.Family).String()
		c.NATPort = r.NATPort
	}
	if r.Owner == self {
		c.Backup = int(backup)
		// A connection created here has a version starting at this
		// table's clock (conntrack.Record).
		if age := now - int64(r.Version); age >= 0 && r.Version <= uint64(now) {
			c.Age = time.Duration(age).Round(time.Millisecond)
		}
	} else {
		c.Backup = int(self)
	}
	return c
}

// Conns returns one page of the connection table.
func (s *Server) Conns(q ConnQuery) Conns {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultConnLimit
	}
	cursor := uint32(0)
	if q.Cursor != "" {
		n, _ := strconv.ParseUint(q.Cursor, 10, 32)
		cursor = uint32(n)
	}
	st := s.b.Status()
	self, backup := uint8(st.Member), uint8(0)
	for _, m := range s.b.Members() {
		if !m.Self {
			backup = uint8(m.ID)
			break
		}
	}
	now := s.b.ConnClock()
	out := Conns{Conns: []Conn{}, Total: st.Conns}
	for out.Scanned < ScanSlots {
		full := false
		next, done := s.b.RangeConns(cursor, chunkSlots, func(r conntrack.Record) bool {
			if !q.match(&r) {
				return true
			}
			out.Conns = append(out.Conns, connOf(&r, self, backup, now))
			full = len(out.Conns) >= limit
			return !full
		})
		switch {
		case !done:
			out.Scanned += int(next - cursor)
		case st.ConnsMax > int(cursor):
			out.Scanned += st.ConnsMax - int(cursor)
		}
		if done {
			return out
		}
		cursor = next
		if full {
			break
		}
	}
	out.Next = strconv.FormatUint(uint64(cursor), 10)
	return out
}

func (s *Server) conns(w http.ResponseWriter, r *http.Request) {
	q, err := ParseConnQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, s.Conns(q))
}
