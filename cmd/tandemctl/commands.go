package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/syncpath"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func noArgs(args []string) error {
	if len(args) != 0 {
		return usagef("unexpected arguments %q", args)
	}
	return nil
}

func runStatus(e *env, args []string, _ any) error {
	if err := noArgs(args); err != nil {
		return err
	}
	st, err := e.c.Status(e.ctx)
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, st)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s (member %d of cluster %d): %s, priority %d, up %s\n", st.Name, st.Member, st.Cluster, st.Role, st.Priority, fmtDuration(st.Uptime))
	for _, i := range st.Interfaces {
		attach := ""
		if i.Attach != "" {
			attach = ", XDP " + i.Attach
		}
		fmt.Fprintf(w, "  %-8s %-8s %s%s\n", i.Name, i.Role, plural(i.Queues, "queue"), attach)
	}
	fmt.Fprintf(w, "connections: %s of %s (%s)\n", humanize.Comma(int64(st.Conns)), humanize.Comma(int64(st.ConnsMax)), percent(float64(st.Conns), float64(st.ConnsMax)))
	var cores []string
	for _, c := range st.Cores {
		cores = append(cores, fmt.Sprintf("%s %d", strings.ReplaceAll(c.Role, "_", " "), c.CPU))
	}
	if len(cores) > 0 {
		fmt.Fprintf(w, "cores: %s\n", strings.Join(cores, ", "))
	}
	fmt.Fprintf(w, "peers: %d\n", st.Peers)
	params := api.CurrentParams(st.Params)
	for _, n := range api.ParamNames() {
		fmt.Fprintf(w, "%s = %s\n", n, params[n])
	}
	return nil
}

func runMembers(e *env, args []string, _ any) error {
	if err := noArgs(args); err != nil {
		return err
	}
	ms, err := e.c.Members(e.ctx)
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, ms)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tPRIORITY\tALIVE\tSYNCED\tLAST HEARD\tCONNS\tSYNC ADDRESS")
	for _, m := range ms {
		name, heard := m.Name, "-"
		if m.Self {
			name += " (this)"
		} else if m.LastHeard >= 0 {
			heard = fmtDuration(m.LastHeard) + " ago"
		} else {
			heard = "never"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", m.ID, name, m.Role, m.Priority, yesNo(m.Alive), yesNo(m.Synced), heard, humanize.Comma(int64(m.Conns)), orDash(m.Address))
	}
	return tw.Flush()
}

type syncstatOpts struct{ reset bool }

func syncstatFlags(fs *flag.FlagSet) any {
	o := &syncstatOpts{}
	fs.BoolVar(&o.reset, "reset", false, "clear the counters (a baseline in tandemd's API; metrics are not reset)")
	return o
}

func runSyncstat(e *env, args []string, f any) error {
	if err := noArgs(args); err != nil {
		return err
	}
	o := f.(*syncstatOpts)
	var st api.SyncStats
	var err error
	if o.reset {
		st, err = e.c.ResetSync(e.ctx)
	} else {
		st, err = e.c.SyncStats(e.ctx)
	}
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, st)
	}
	if len(st.Peers) == 0 {
		fmt.Fprintln(e.stdout, "no peers: this member runs standalone (no [[peers]] in its config)")
		return nil
	}
	for i, p := range st.Peers {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		writeSyncstat(e.stdout, &p, time.Now())
	}
	if o.reset {
		fmt.Fprintln(e.stdout, "\ncounters reset")
	}
	return nil
}

// writeSyncstat prints one peer's figures: a summary, then every
// SyncField, pairs side by side.
func writeSyncstat(w io.Writer, p *api.PeerSync, now time.Time) {
	c := &p.Counters
	alive := "DOWN"
	if c.PeerAlive {
		alive = "alive, heartbeat round trip " + fmtDuration(time.Duration(c.RTT))
	}
	fmt.Fprintf(w, "peer %s (member %d): %s\n", p.Name, p.Peer, alive)
	limit := "unlimited"
	if p.BandwidthLimit != 0 {
		limit = fmtBits(float64(p.BandwidthLimit)) + " (" + percent(float64(p.BandwidthUsed), float64(p.BandwidthLimit)) + ")"
	}
	fmt.Fprintf(w, "  bandwidth       %s of %s\n", fmtBits(float64(p.BandwidthUsed)), limit)
	fmt.Fprintf(w, "  lag             p50 %s  p99 %s  max %s  (%s frames acked)\n", fmtDuration(p.Lag.P50), fmtDuration(p.Lag.P99), fmtDuration(p.Lag.Max), humanize.Comma(int64(p.Lag.Count)))
	fmt.Fprintf(w, "  queue           %s records waiting, %s frames in flight\n", humanize.Comma(int64(c.QueueDepth)), humanize.Comma(int64(c.InFlight)))
	fmt.Fprintf(w, "  delayed notification %s\n", fmtDelay(&p.Delay, now))
	last := "none"
	if !p.LastFullSync.IsZero() {
		last = humanize.RelTime(p.LastFullSync, now, "ago", "from now") + ", took " + fmtDuration(p.LastFullSyncDuration)
	}
	fmt.Fprintf(w, "  last full sync  %s\n", last)
	if !p.ResetAt.IsZero() {
		fmt.Fprintf(w, "  counters since  %s (%s)\n", p.ResetAt.Local().Format(time.DateTime), humanize.RelTime(p.ResetAt, now, "ago", "from now"))
	}
	// Rows: the label left-aligned, sent and received right-aligned.
	type row struct{ label, sent, received string }
	var rows []row
	fields := api.SyncFields
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if f.Dir == "sent" && i+1 < len(fields) && fields[i+1].Dir == "received" && fields[i+1].Label == f.Label {
			rows = append(rows, row{f.Label, fmtField(f, c), fmtField(fields[i+1], c)})
			i++
			continue
		}
		rows = append(rows, row{f.Label, fmtField(f, c), ""})
	}
	lw, vw := 0, len("received")
	for _, r := range rows {
		lw, vw = max(lw, len(r.label)), max(vw, len(r.sent), len(r.received))
	}
	fmt.Fprintf(w, "  %-*s  %*s  %*s\n", lw, "", vw, "sent", vw, "received")
	for _, r := range rows {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-*s  %*s  %*s", lw, r.label, vw, r.sent, vw, r.received), " "))
	}
	fmt.Fprintf(w, "  rejected frames in all: %s\n", humanize.Comma(int64(c.Rejected.Rejected())))
}

// fmtDelay writes the delayed-notification delay and what the remediation
// did with it: "6s (base 3s; remediation on: 2 steps up, 1 down, last:
// raised 3s→6s 12s ago, lag p99 80ms > 50ms)".
func fmtDelay(d *api.DelayStatus, now time.Time) string {
	delay := "off"
	if d.Delay > 0 {
		delay = fmtDuration(d.Delay)
	}
	if !d.Remediation {
		return delay + " (remediation off)"
	}
	s := fmt.Sprintf("%s (base %s; remediation on: ", delay, fmtDuration(d.Base))
	if d.LastStep == nil {
		return s + fmt.Sprintf("no steps; lag p99 %s of %s, backlog %s of %s records)", fmtDuration(d.LagP99), fmtDuration(d.LagThreshold),
			humanize.Comma(int64(d.Backlog)), humanize.Comma(int64(d.QueueThreshold)))
	}
	l := d.LastStep
	return s + fmt.Sprintf("%s up, %d down, last: %s %s→%s %s ago, %s)", plural(int(d.StepsUp), "step"), d.StepsDown,
		l.Direction, fmtDuration(l.From), fmtDuration(l.To), fmtDuration(now.Sub(l.At).Truncate(time.Second)), l.Reason)
}

func fmtField(f api.SyncField, c *syncpath.Counters) string {
	return fmtValue(f, f.Value(c))
}

func fmtValue(f api.SyncField, v float64) string {
	switch f.Kind {
	case api.KindBytes:
		return humanize.Bytes(uint64(v))
	case api.KindNanos:
		if v == 0 {
			return "-"
		}
		return fmtDuration(time.Duration(v))
	case api.KindBool:
		return yesNo(v != 0)
	}
	return humanize.Comma(int64(v))
}

type connsOpts struct {
	addr, proto, state, cursor string
	port, limit                int
}

func connsFlags(fs *flag.FlagSet) any {
	o := &connsOpts{}
	fs.StringVar(&o.addr, "addr", "", "only connections with this source, destination or NAT `address`")
	fs.IntVar(&o.port, "port", 0, "only connections with this source, destination or NAT `port`")
	fs.StringVar(&o.proto, "proto", "", "only this `protocol`: tcp, udp, icmp, icmpv6 or a number")
	fs.StringVar(&o.state, "state", "", "only this `state`: ESTABLISHED, SYN_SENT, UDP_REPLIED... (any case)")
	fs.IntVar(&o.limit, "limit", api.DefaultConnLimit, "at most `N` connections (1 to 1000)")
	fs.StringVar(&o.cursor, "cursor", "", "continue from the `cursor` a previous page printed")
	return o
}

func (o *connsOpts) query() (api.ConnQuery, error) {
	q := api.ConnQuery{Limit: o.limit, Cursor: o.cursor}
	var err error
	if o.addr != "" {
		if q.Addr, err = netip.ParseAddr(o.addr); err != nil {
			return q, usagef("--addr %q: not an IPv4 or IPv6 address", o.addr)
		}
	}
	if o.port < 0 || o.port > 65535 {
		return q, usagef("--port %d: want 1 to 65535", o.port)
	}
	q.Port = uint16(o.port)
	if o.proto != "" {
		if q.Proto, err = api.ParseProto(o.proto); err != nil {
			return q, usagef("--%v", err)
		}
	}
	if o.state != "" {
		if q.State, err = api.ParseState(o.state); err != nil {
			return q, usagef("--%v", err)
		}
	}
	if o.limit < 1 || o.limit > api.MaxConnLimit {
		return q, usagef("--limit %d: want 1 to %d", o.limit, api.MaxConnLimit)
	}
	return q, nil
}

// maxFollow bounds the pages conns follows to fill --limit when a filter
// matches little: each page is a bounded walk of the table.
const maxFollow = 64

func runConns(e *env, args []string, f any) error {
	if err := noArgs(args); err != nil {
		return err
	}
	q, err := f.(*connsOpts).query()
	if err != nil {
		return err
	}
	var page api.Conns
	out := api.Conns{Conns: []api.Conn{}}
	for range maxFollow {
		page, err = e.c.Conns(e.ctx, q)
		if err != nil {
			return err
		}
		out.Conns = append(out.Conns, page.Conns...)
		out.Scanned += page.Scanned
		out.Total, out.Next = page.Total, page.Next
		if page.Next == "" || len(out.Conns) >= q.Limit {
			break
		}
		q.Cursor = page.Next
		q.Limit -= len(page.Conns)
	}
	if e.g.json {
		return printJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTO\tSOURCE\tDESTINATION\tNAT\tSTATE\tAGE\tEXPIRES\tOWNER\tBACKUP")
	for _, c := range out.Conns {
		nat := "-"
		if c.NAT != "" {
			nat = c.NAT + " " + hostPort(c.NATAddr, c.NATPort)
		}
		age := "?"
		if c.Age >= 0 {
			age = fmtDuration(c.Age.Truncate(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Proto, hostPort(c.Src, c.SrcPort), hostPort(c.Dst, c.DstPort), nat, c.State,
			age, fmtDuration(c.Expires.Truncate(time.Second)), c.Owner, orDash(fmt.Sprint(c.Backup)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s shown, %s in the table\n", plural(len(out.Conns), "connection"), humanize.Comma(int64(out.Total)))
	if out.Next != "" {
		fmt.Fprintf(e.stdout, "more: tandemctl conns --cursor %s (same filters)\n", out.Next)
	}
	return nil
}

func hostPort(a string, p uint16) string {
	if strings.Contains(a, ":") {
		return fmt.Sprintf("[%s]:%d", a, p)
	}
	return fmt.Sprintf("%s:%d", a, p)
}

func runSet(e *env, args []string, _ any) error {
	if len(args) != 2 {
		return usagef("want PARAM VALUE, e.g. tandemctl set sync.max_bandwidth 800Mbit; parameters: %s", strings.Join(api.ParamNames(), ", "))
	}
	res, err := e.c.SetParam(e.ctx, args[0], args[1])
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%s = %s (was %s)\n", res.Name, res.Value, res.Previous)
	return nil
}

func runFailover(e *env, args []string, _ any) error {
	if err := noArgs(args); err != nil {
		return err
	}
	res, err := e.c.Failover(e.ctx)
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "failover: %s -> %s: %s\n", res.Before, res.After, res.Message)
	return nil
}

// configResult is `config check --json`.
type configResult struct {
	File     string   `json:"file"`
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
}

func runConfig(e *env, args []string, _ any) error {
	if len(args) != 2 || args[0] != "check" {
		return usagef("want: tandemctl config check FILE")
	}
	path := args[1]
	m, err := config.HostMachine()
	if err != nil {
		return err
	}
	if !e.g.json {
		if err := config.Check(path, m, e.stdout); err != nil {
			return errors.New("the file is refused")
		}
		return nil
	}
	res := configResult{File: path, Problems: []string{}, Warnings: []string{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, warnings, err := config.Parse(data, m, config.WithSource(path))
	for _, w := range warnings {
		res.Warnings = append(res.Warnings, w.String())
	}
	var ve *config.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			res.Problems = append(res.Problems, p.String())
		}
	case err != nil:
		res.Problems = append(res.Problems, err.Error())
	default:
		res.OK = true
	}
	if err := printJSON(e.stdout, res); err != nil {
		return err
	}
	if !res.OK {
		return errors.New("the file is refused")
	}
	return nil
}
