package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/tandem-gw/tandem/control/api"
)

type topOpts struct {
	interval time.Duration
	n        int
}

func topFlags(fs *flag.FlagSet) any {
	o := &topOpts{}
	fs.DurationVar(&o.interval, "interval", time.Second, "refresh `period`")
	fs.IntVar(&o.n, "n", 0, "stop after `N` refreshes (0: until q or Ctrl-C)")
	return o
}

// snapshot is one reading of everything top shows.
type snapshot struct {
	At      time.Time       `json:"at"`
	Status  api.Status      `json:"status"`
	Workers api.Workers     `json:"workers"`
	Sync    api.SyncStats   `json:"sync"`
	CPU     api.CPUs        `json:"cpu"`
	Sockets api.Sockets     `json:"sockets"`
	Rates   map[string]rate `json:"rates,omitempty"` // per interface/queue, since the previous snapshot
}

// rate is a queue's traffic per second.
type rate struct {
	RxPackets, RxBits, TxPackets, TxBits float64
}

func (e *env) snapshot(ctx context.Context) (*snapshot, error) {
	s := &snapshot{At: time.Now()}
	var err error
	if s.Status, err = e.c.Status(ctx); err != nil {
		return nil, err
	}
	if s.Workers, err = e.c.Workers(ctx); err != nil {
		return nil, err
	}
	if s.Sync, err = e.c.SyncStats(ctx); err != nil {
		return nil, err
	}
	if s.CPU, err = e.c.CPU(ctx); err != nil {
		return nil, err
	}
	if s.Sockets, err = e.c.Sockets(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Screen control (ANSI / xterm).
const (
	altScreenOn  = "\x1b[?1049h"
	altScreenOff = "\x1b[?1049l"
	cursorHide   = "\x1b[?25l"
	cursorShow   = "\x1b[?25h"
	home         = "\x1b[H"
	clearBelow   = "\x1b[J"
	clearEOL     = "\x1b[K"
	bold         = "\x1b[1m"
	reset        = "\x1b[0m"
)

func runTop(e *env, args []string, f any) error {
	if err := noArgs(args); err != nil {
		return err
	}
	o := f.(*topOpts)
	if o.interval < 100*time.Millisecond {
		return usagef("--interval %v: at least 100ms", o.interval)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	out, _ := e.stdout.(*os.File)
	screen := !e.g.json && out != nil && isTerminal(out)
	if screen {
		if e.stdin != nil {
			if t, ok := makeRaw(e.stdin); ok {
				defer t.restore()
				go readKeys(ctx, e.stdin, cancel)
			}
		}
		fmt.Fprint(out, altScreenOn+cursorHide)
		defer fmt.Fprint(out, reset+cursorShow+altScreenOff)
	}
	var prev *snapshot
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for i := 0; o.n == 0 || i < o.n; i++ {
		cur, err := e.snapshot(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		cur.Rates = rates(prev, cur)
		switch {
		case e.g.json:
			if err := printJSONLine(e.stdout, cur); err != nil {
				return err
			}
		case screen:
			fmt.Fprint(out, home+strings.ReplaceAll(renderTop(prev, cur, termWidth(out), true), "\n", clearEOL+"\n")+clearBelow)
		default:
			fmt.Fprint(e.stdout, renderTop(prev, cur, 100, false), "\n")
		}
		prev = cur
		if o.n != 0 && i+1 == o.n {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	return nil
}

func printJSONLine(w io.Writer, v any) error {
	var b bytes.Buffer
	if err := printJSON(&b, v); err != nil {
		return err
	}
	_, err := w.Write(append(bytes.ReplaceAll(bytes.TrimSpace(b.Bytes()), []byte("\n"), nil), '\n'))
	return err
}

// readKeys cancels on q, Q or Ctrl-C (the byte, when the terminal does not
// turn it into a signal), until ctx ends.
func readKeys(ctx context.Context, in *os.File, cancel func()) {
	buf := make([]byte, 16)
	for ctx.Err() == nil {
		n, err := in.Read(buf)
		if bytes.ContainsAny(buf[:n], "qQ\x03") {
			cancel()
			return
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return
		}
		if n == 0 && errors.Is(err, io.EOF) {
			time.Sleep(50 * time.Millisecond) // VTIME elapsed with nothing typed
		}
	}
}

// rates is each queue's traffic per second between two snapshots.
func rates(prev, cur *snapshot) map[string]rate {
	if prev == nil {
		return nil
	}
	dt := cur.At.Sub(prev.At).Seconds()
	if dt <= 0 {
		return nil
	}
	old := map[int]api.Worker{}
	for _, w := range prev.Workers.Workers {
		old[w.Queue] = w
	}
	out := map[string]rate{}
	for _, w := range cur.Workers.Workers {
		p, ok := old[w.Queue]
		if !ok {
			continue
		}
		d := func(name string) float64 {
			if w.Counters[name] < p.Counters[name] {
				return 0
			}
			return float64(w.Counters[name]-p.Counters[name]) / dt
		}
		for _, side := range []struct{ ifname, suffix string }{{cur.Workers.Inside, "inside"}, {cur.Workers.Outside, "outside"}} {
			out[fmt.Sprintf("%s/%d", side.ifname, w.Queue)] = rate{
				RxPackets: d("rx_" + side.suffix), RxBits: 8 * d("rx_bytes_"+side.suffix),
				TxPackets: d("tx_" + side.suffix), TxBits: 8 * d("tx_bytes_"+side.suffix),
			}
		}
	}
	return out
}

func sumCounter(ws api.Workers, name string) uint64 {
	var n uint64
	for _, w := range ws.Workers {
		n += w.Counters[name]
	}
	return n
}

func perSecond(prev, cur *snapshot, name string) string {
	if prev == nil {
		return "-"
	}
	a, b := sumCounter(prev.Workers, name), sumCounter(cur.Workers, name)
	dt := cur.At.Sub(prev.At).Seconds()
	if b < a || dt <= 0 {
		return "-"
	}
	return fmtRate(float64(b-a) / dt)
}

// renderTop draws one screen. prev is nil on the first.
func renderTop(prev, cur *snapshot, width int, color bool) string {
	bold, reset := bold, reset
	if !color {
		bold, reset = "", ""
	}
	var b strings.Builder
	st := &cur.Status
	head := fmt.Sprintf("tandem top  %s (member %d) %s  up %s  %s", st.Name, st.Member, strings.ToUpper(st.Role), fmtDuration(st.Uptime), cur.At.Format(time.TimeOnly))
	fmt.Fprintf(&b, "%s%s%s%s%s\n\n", bold, head, strings.Repeat(" ", max(0, width-len(head)-10)), "q: quit", reset)

	fmt.Fprintf(&b, "%sTRAFFIC%-13s %10s %12s %10s %12s%s\n", bold, "", "rx pkt/s", "rx bit/s", "tx pkt/s", "tx bit/s", reset)
	keys := make([]string, 0, len(cur.Rates))
	for k := range cur.Rates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		fmt.Fprintf(&b, "  (rates from the second refresh on)\n")
	}
	var tot rate
	for _, k := range keys {
		r := cur.Rates[k]
		tot.RxPackets, tot.RxBits, tot.TxPackets, tot.TxBits = tot.RxPackets+r.RxPackets, tot.RxBits+r.RxBits, tot.TxPackets+r.TxPackets, tot.TxBits+r.TxBits
		fmt.Fprintf(&b, "  %-18s %10s %12s %10s %12s\n", strings.Replace(k, "/", " queue ", 1), fmtRate(r.RxPackets), fmtBits(r.RxBits), fmtRate(r.TxPackets), fmtBits(r.TxBits))
	}
	if len(keys) > 0 {
		fmt.Fprintf(&b, "  %-18s %10s %12s %10s %12s\n", "total", fmtRate(tot.RxPackets), fmtBits(tot.RxBits), fmtRate(tot.TxPackets), fmtBits(tot.TxBits))
	}
	fmt.Fprintf(&b, "  forwarded %s/s, new connections %s/s, to kernel %s/s\n\n", perSecond(prev, cur, "forwarded"), perSecond(prev, cur, "new_connections"), perSecond(prev, cur, "to_kernel"))

	fmt.Fprintf(&b, "%sTABLE%s  %s of %s connections (%s)\n\n", bold, reset, humanize.Comma(int64(st.Conns)), humanize.Comma(int64(st.ConnsMax)), percent(float64(st.Conns), float64(st.ConnsMax)))

	fmt.Fprintf(&b, "%sSYNC%s\n", bold, reset)
	if len(cur.Sync.Peers) == 0 {
		fmt.Fprintf(&b, "  standalone: no peers\n")
	}
	for _, p := range cur.Sync.Peers {
		c := &p.Counters
		state := "DOWN"
		if c.PeerAlive {
			state = "alive"
		}
		recs, recsIn := "-", "-"
		if prev != nil {
			for _, q := range prev.Sync.Peers {
				if q.Peer == p.Peer {
					dt := cur.At.Sub(prev.At).Seconds()
					if c.RecordsSent >= q.Counters.RecordsSent && dt > 0 {
						recs = fmtRate(float64(c.RecordsSent-q.Counters.RecordsSent) / dt)
					}
					if c.Applied >= q.Counters.Applied && dt > 0 {
						recsIn = fmtRate(float64(c.Applied-q.Counters.Applied) / dt)
					}
				}
			}
		}
		limit := "unlimited"
		if p.BandwidthLimit != 0 {
			limit = fmtBits(float64(p.BandwidthLimit))
		}
		fmt.Fprintf(&b, "  %s (%d) %s  records %s/s sent, %s/s applied  %s of %s  queue %s  in flight %d\n", p.Name, p.Peer, state, recs, recsIn,
			fmtBits(float64(p.BandwidthUsed)), limit, humanize.Comma(int64(c.QueueDepth)), c.InFlight)
		fmt.Fprintf(&b, "    lag p50 %s  p99 %s  max %s   retransmits %s  rejected %s\n", fmtDuration(p.Lag.P50), fmtDuration(p.Lag.P99), fmtDuration(p.Lag.Max),
			humanize.Comma(int64(c.Retransmits)), humanize.Comma(int64(c.Rejected.Rejected())))
	}
	b.WriteString("\n")

	fmt.Fprintf(&b, "%sDROPS%s", bold, reset)
	names := make([]string, 0, len(cur.Workers.Drops))
	for n := range cur.Workers.Drops {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		b.WriteString("  none")
	}
	b.WriteString("\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-22s %12s  %s/s\n", n, humanize.Comma(int64(cur.Workers.Drops[n])), perSecond(prev, cur, "drop_"+n))
	}
	var ring, fill, rxd uint64
	for _, s := range cur.Sockets.Sockets {
		ring += s.Stats.RxRingFull
		fill += s.Stats.FillRingEmptyDescs
		rxd += s.Stats.RxDropped
	}
	fmt.Fprintf(&b, "  AF_XDP: rx ring full %s, fill ring empty %s, rx dropped %s\n\n", humanize.Comma(int64(ring)), humanize.Comma(int64(fill)), humanize.Comma(int64(rxd)))

	fmt.Fprintf(&b, "%sCORES%s\n", bold, reset)
	roles := map[int][]string{}
	for _, c := range st.Cores {
		roles[c.CPU] = append(roles[c.CPU], strings.ReplaceAll(c.Role, "_", " "))
	}
	if len(cur.CPU.CPUs) == 0 {
		b.WriteString("  (usage from the second sample of the daemon on)\n")
	}
	for _, c := range cur.CPU.CPUs {
		bar := int(c.Busy*20 + 0.5)
		fmt.Fprintf(&b, "  cpu%-3d [%s%s] %5.1f%%  %s\n", c.CPU, strings.Repeat("#", bar), strings.Repeat(".", 20-bar), 100*c.Busy, strings.Join(roles[c.CPU], ", "))
	}
	return b.String()
}
