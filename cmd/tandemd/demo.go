package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/tools/lab"
)

type demoConfig struct {
	prefix   string
	transfer int64
	keep     bool
}

// runDemo is the main job on the embedded default: the lab, the gateway
// pair (tandemd processes on gw1 and gw2 with their embedded configs),
// an HTTP request, long-lived connections and a TCP transfer from the
// client to the server through the active member, the sync figures of
// both members, then an unplanned failover (SIGKILL of gw1) that every
// connection survives.
func runDemo(dc demoConfig) (err error) {
	start := time.Now()
	fmt.Printf("Tandem demo: building lab %q (client, lan, gw1, gw2, wan, server)\n", dc.prefix)
	l, err := lab.Up(lab.Config{Prefix: dc.prefix, Queues: 2})
	if err != nil {
		return err
	}
	if !dc.keep {
		defer func() {
			if derr := l.Down(); derr != nil {
				err = errors.Join(err, derr)
			} else {
				fmt.Printf("lab %q removed\n", dc.prefix)
			}
		}()
	}
	dir, err := os.MkdirTemp("", "tandem-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	gw1, err := startDemoMember(l.GW1, 1, dir)
	if err != nil {
		return err
	}
	defer gw1.stop()
	if err := gw1.waitRole(ctx, "active", 30*time.Second); err != nil {
		return err
	}
	gw2, err := startDemoMember(l.GW2, 2, dir)
	if err != nil {
		return err
	}
	defer gw2.stop()
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nthe members' role changes:\n%s\n%s", err, gw1.roleLines(), gw2.roleLines())
		}
	}()
	if err := gw2.waitRole(ctx, "backup", 30*time.Second); err != nil {
		return err
	}
	fmt.Printf("gw1: tandemd active, holding the VIPs and SNAT %s; gw2: tandemd backup (logs in %s)\n", lab.SNATAddr, dir)

	seen, err := demoHTTP(l)
	if err != nil {
		return err
	}
	fmt.Printf("\nHTTP client %s → server %s:8080: the server saw the client as %s\n", lab.ClientAddr, lab.ServerAddr, seen)
	if seen.Addr() != lab.SNATAddr {
		return fmt.Errorf("the server saw %s, not the SNAT address %s", seen, lab.SNATAddr)
	}

	srv, err := startEchoServer(l.Server)
	if err != nil {
		return err
	}
	defer srv.close()
	arr, err := startArrivals(l.Server)
	if err != nil {
		return err
	}
	defer arr.close()
	conns, err := dialEchoConns(l.Client, demoConns)
	if err != nil {
		return fmt.Errorf("long-lived connections through the gateway: %w", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range conns {
		defer c.c.Close()
		c.run(len(conns), stop, &wg)
	}
	fmt.Printf("%d long-lived TCP connections client → server, a message and its echo every %v on each\n", len(conns), msgInterval)

	got, dur, err := demoTransfer(l, dc.transfer)
	if err != nil {
		close(stop)
		wg.Wait()
		return err
	}
	fmt.Printf("TCP transfer client → server: %s in %v, %s/s\n", humanize.IBytes(uint64(got)), dur.Round(time.Millisecond),
		humanize.Bytes(uint64(float64(got)/dur.Seconds())))
	if got != dc.transfer {
		close(stop)
		wg.Wait()
		return fmt.Errorf("the server received %d of %d bytes", got, dc.transfer)
	}
	// The connections outlive the notification delay (1s here): replicated.
	time.Sleep(2 * time.Second)
	if err := demoSyncReport(ctx, gw1, gw2); err != nil {
		close(stop)
		wg.Wait()
		return err
	}
	demoCounters(ctx, gw1)

	fmt.Println("\nfailover: killing tandemd on gw1 (SIGKILL)")
	killed := time.Now()
	if err := gw1.cmd.Process.Kill(); err != nil {
		return err
	}
	if err := gw2.waitRole(ctx, "active", 5*time.Second); err != nil {
		close(stop)
		wg.Wait()
		return err
	}
	takeover := time.Since(killed)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	survived := 0
	for _, c := range conns {
		if why := c.broken(); why != "" {
			fmt.Println("  " + why)
		} else {
			survived++
		}
	}
	gap := arr.gapAfter(killed)
	fmt.Printf("failover: survived %d/%d gap-ms %.1f (gw2 active %v after the kill)\n", survived, len(conns),
		float64(gap.Microseconds())/1000, takeover.Round(time.Millisecond))
	demoCounters(ctx, gw2)
	if survived != len(conns) {
		return fmt.Errorf("%d of %d connections did not survive the failover", len(conns)-survived, len(conns))
	}
	if err := gw2.terminate(); err != nil {
		return err
	}
	fmt.Println("gw2 stopped cleanly on SIGTERM: programs detached, sockets closed, addresses released")
	fmt.Printf("\ndemo: OK (%v)\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// demoConns is how many long-lived connections the demo keeps open.
const demoConns = 100

// demoMember is a tandemd process of the demo pair.
type demoMember struct {
	name   string
	cmd    *exec.Cmd
	api    *api.Client
	log    string
	exited chan error
}

// startDemoMember runs tandemd -config on member id's embedded config in
// ns, with its API socket in dir and its log in dir. The demo's
// connections are short: the notification delay is 1s instead of 3s.
func startDemoMember(ns string, id int, dir string) (*demoMember, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfg, err := config.DefaultTOMLFor(id)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("gw%d", id)
	socket := filepath.Join(dir, name+".sock")
	cfg = bytes.Replace(cfg, []byte(fmt.Sprintf("socket = \"/run/tandem/%s.sock\"", name)), []byte(fmt.Sprintf("socket = %q", socket)), 1)
	cfg = bytes.Replace(cfg, []byte(`delayed_notification = "3s"`), []byte(`delayed_notification = "1s"`), 1)
	path := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		return nil, err
	}
	m := &demoMember{name: name, log: filepath.Join(dir, name+".log"), exited: make(chan error, 1)}
	logf, err := os.Create(m.log)
	if err != nil {
		return nil, err
	}
	m.cmd = lab.Command(ns, exe, "-config", path)
	m.cmd.Env = append(os.Environ(), "TANDEMD_MAIN=1") // when exe is the test binary (TestMain)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting tandemd on %s: %w", name, err)
	}
	go func() {
		m.exited <- m.cmd.Wait()
		logf.Close()
	}()
	m.api = api.NewUnixClient(socket)
	return m, nil
}

// waitRole waits until the member's API reports role.
func (m *demoMember) waitRole(ctx context.Context, role string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := m.api.Status(ctx)
		if err == nil && st.Role == role {
			return nil
		}
		select {
		case err := <-m.exited:
			m.exited <- err
			return fmt.Errorf("tandemd on %s exited before becoming %s: %w\n%s", m.name, role, err, m.tail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tandemd on %s did not become %s within %v:\n%s", m.name, role, timeout, m.tail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// roleLines returns the member's log lines about roles and the sync link.
func (m *demoMember) roleLines() string {
	b, _ := os.ReadFile(m.log)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "msg=role") || strings.Contains(line, "sync link") || strings.Contains(line, "level=ERROR") {
			out = append(out, m.name+": "+line)
		}
	}
	return strings.Join(out, "\n")
}

// tail returns the end of the member's log.
func (m *demoMember) tail() string {
	b, _ := os.ReadFile(m.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// terminate stops the member with SIGTERM and checks it stopped cleanly.
func (m *demoMember) terminate() error {
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-m.exited:
		m.exited <- err
		if err != nil {
			return fmt.Errorf("tandemd on %s exited after SIGTERM: %w\n%s", m.name, err, m.tail())
		}
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("tandemd on %s did not stop within 15s of SIGTERM", m.name)
	}
}

// stop kills the member if it still runs.
func (m *demoMember) stop() {
	m.api.Close()
	select {
	case err := <-m.exited:
		m.exited <- err
	default:
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// demoSyncReport prints what tandemctl syncstat shows on both members,
// once the sync link is idle, and checks that they agree.
func demoSyncReport(ctx context.Context, active, backup *demoMember) error {
	var a, b api.PeerSync
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sa, err := active.api.SyncStats(ctx)
		if err != nil {
			return fmt.Errorf("sync stats of %s: %w", active.name, err)
		}
		sb, err := backup.api.SyncStats(ctx)
		if err != nil {
			return fmt.Errorf("sync stats of %s: %w", backup.name, err)
		}
		if len(sa.Peers) != 1 || len(sb.Peers) != 1 {
			return errors.New("sync stats without the peer")
		}
		a, b = sa.Peers[0], sb.Peers[0]
		idle := a.Counters.QueueDepth == 0 && a.Counters.InFlight == 0 && b.Counters.Applied > 0
		if idle || time.Now().After(deadline) {
			break
		}
	}
	ac, bc := a.Counters, b.Counters
	fmt.Printf("\nsync %s → %s (tandemctl syncstat):\n", active.name, backup.name)
	fmt.Printf("  %s sent:     %s frames, %s records, %s; %s retransmits, %s nacks received, %s held back by the delay, queue %d, in flight %d\n",
		active.name, humanize.Comma(int64(ac.FramesSent)), humanize.Comma(int64(ac.RecordsSent)), humanize.Bytes(ac.BytesSent),
		humanize.Comma(int64(ac.Retransmits)), humanize.Comma(int64(ac.NacksReceived)), humanize.Comma(int64(ac.Suppressed)), ac.QueueDepth, ac.InFlight)
	fmt.Printf("  %s received: %s frames, %s records, applied %s (stale %d), rejected %d, full syncs received %d\n",
		backup.name, humanize.Comma(int64(bc.FramesReceived)), humanize.Comma(int64(bc.RecordsReceived)), humanize.Comma(int64(bc.Applied)),
		bc.ApplyStale, bc.Rejected.Rejected(), bc.FullSyncsReceived)
	if a.Lag.Count > 0 {
		fmt.Printf("  lag (state change on %s until acked by %s): p50 %v, p99 %v, max %v\n", active.name, backup.name, a.Lag.P50, a.Lag.P99, a.Lag.Max)
	}
	ma, err := backup.api.Members(ctx)
	if err == nil {
		for _, mb := range ma {
			fmt.Printf("  member %s: %s, priority %d, %d connections, synced %v\n", mb.Name, mb.Role, mb.Priority, mb.Conns, mb.Synced)
		}
	}
	if bc.Rejected.Rejected() != 0 {
		return fmt.Errorf("%s rejected frames from %s", backup.name, active.name)
	}
	if bc.Applied == 0 {
		return fmt.Errorf("%s applied no record from %s", backup.name, active.name)
	}
	return nil
}

// demoCounters prints a member's dataplane counters (every packet not
// forwarded is counted under its reason).
func demoCounters(ctx context.Context, m *demoMember) {
	w, err := m.api.Workers(ctx)
	if err != nil {
		fmt.Printf("counters of %s: %v\n", m.name, err)
		return
	}
	sum := map[string]uint64{}
	for _, wk := range w.Workers {
		for k, v := range wk.Counters {
			sum[k] += v
		}
	}
	var names []string
	for k, v := range sum {
		if v != 0 {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		di, dj := strings.HasPrefix(names[i], "drop"), strings.HasPrefix(names[j], "drop")
		if di != dj {
			return dj
		}
		return names[i] < names[j]
	})
	fmt.Printf("\n%s dataplane counters:\n", m.name)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for _, n := range names {
		v := humanize.Comma(int64(sum[n]))
		if strings.Contains(n, "bytes") {
			v = humanize.Bytes(sum[n])
		}
		fmt.Fprintf(tw, "  %s\t%s\n", n, v)
	}
	tw.Flush()
}

// demoHTTP serves HTTP in the server's namespace and asks from the client's;
// the answer is the address the server saw.
func demoHTTP(l *lab.Lab) (netip.AddrPort, error) {
	var ln net.Listener
	if err := lab.Do(l.Server, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(lab.ServerAddr.String(), "8080"))
		return err
	}); err != nil {
		return netip.AddrPort{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.RemoteAddr) })}
	go srv.Serve(ln)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (c net.Conn, err error) {
			err = lab.Do(l.Client, func() error {
				c, err = net.DialTimeout(network, addr, 5*time.Second)
				return err
			})
			return c, err
		},
	}}
	resp, err := client.Get("http://" + net.JoinHostPort(lab.ServerAddr.String(), "8080") + "/")
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("HTTP through the gateway: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return netip.ParseAddrPort(string(body))
}

// demoTransfer sends n bytes over TCP from the client to the server and
// returns how many the server received.
func demoTransfer(l *lab.Lab, n int64) (int64, time.Duration, error) {
	var ln net.Listener
	if err := lab.Do(l.Server, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(lab.ServerAddr.String(), "9000"))
		return err
	}); err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		got, _ := io.Copy(io.Discard, c)
		received <- got
	}()
	var c net.Conn
	if err := lab.Do(l.Client, func() (err error) {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(lab.ServerAddr.String(), "9000"), 5*time.Second)
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("TCP through the gateway: %w", err)
	}
	start := time.Now()
	buf := make([]byte, 256<<10)
	var sent int64
	for sent < n {
		k, err := c.Write(buf[:min(int64(len(buf)), n-sent)])
		sent += int64(k)
		if err != nil {
			c.Close()
			return sent, time.Since(start), fmt.Errorf("sending through the gateway: %w", err)
		}
	}
	c.Close()
	select {
	case got := <-received:
		return got, time.Since(start), nil
	case <-time.After(30 * time.Second):
		return 0, 0, errors.New("the server did not finish receiving within 30s")
	}
}
