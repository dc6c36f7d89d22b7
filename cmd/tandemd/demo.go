package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/dataplane"
	"github.com/tandem-gw/tandem/dataplane/xdp"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
	"github.com/tandem-gw/tandem/tools/lab"
)

type demoConfig struct {
	prefix   string
	transfer int64
	keep     bool
}

// runDemo is the main job on the embedded default: the lab, tandemd as gw1
// (its embedded config), an HTTP request and a TCP transfer from the client
// to the server through it, and the gateway's counters.
func runDemo(dc demoConfig) (err error) {
	log := newDemoLog()
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

	// gw1 runs the gateway from its embedded config, checked against this
	// machine as seen from gw1's namespace.
	var g *gateway
	sink, err := syncpath.NewSink(1 << 16)
	if err != nil {
		return err
	}
	err = lab.Do(l.GW1, func() error {
		m, err := config.HostMachine()
		if err != nil {
			return err
		}
		cfg, warnings, err := config.Parse(config.DefaultTOML(), m, config.WithSource("embedded gw1 config"))
		if err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Printf("config warning: %s = %s: %s\n", w.Key, w.Value, w.Reason)
		}
		g, err = startGateway(cfg, log, sink, true)
		return err
	})
	if err != nil {
		return fmt.Errorf("starting the gateway on gw1: %w", err)
	}
	defer func() {
		// Inside gw1's namespace: releasing the addresses needs its links.
		if serr := lab.Do(l.GW1, g.stop); serr != nil {
			err = errors.Join(err, serr)
		} else {
			fmt.Println("gateway stopped: programs detached, sockets closed, addresses released")
		}
	}()
	fmt.Printf("gw1: tandemd gateway running (steering %v), SNAT to %s\n", g.engine.AttachModes(), lab.SNATAddr)
	sp, err := startSyncPair(l, g, sink)
	if err != nil {
		return fmt.Errorf("starting the sync pair: %w", err)
	}
	defer sp.stop()
	fmt.Printf("sync: gw1 replicates its connections to a backup table on gw2 over UDP %d on the sync link (AES-GCM, delayed notifications off for the demo)\n", ccp.UDPPort)

	seen, err := demoHTTP(l)
	if err != nil {
		return err
	}
	fmt.Printf("\nHTTP client %s → server %s:8080: the server saw the client as %s\n", lab.ClientAddr, lab.ServerAddr, seen)
	if seen.Addr() != lab.SNATAddr {
		return fmt.Errorf("the server saw %s, not the SNAT address %s", seen, lab.SNATAddr)
	}
	got, dur, err := demoTransfer(l, dc.transfer)
	if err != nil {
		return err
	}
	fmt.Printf("TCP transfer client → server: %s in %v, %s/s\n", humanize.IBytes(uint64(got)), dur.Round(time.Millisecond),
		humanize.Bytes(uint64(float64(got)/dur.Seconds())))
	if got != dc.transfer {
		return fmt.Errorf("the server received %d of %d bytes", got, dc.transfer)
	}

	report(g)
	if err := sp.report(); err != nil {
		return err
	}
	fmt.Printf("\ndemo: OK (%v)\n", time.Since(start).Round(time.Millisecond))
	return nil
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

// report prints the gateway's counters.
func report(g *gateway) {
	c := g.engine.Counters()
	fmt.Println("\ngateway counters (every packet not forwarded is counted under its reason):")
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	var names []string
	values := map[string]uint64{}
	for i, v := range c {
		if v != 0 {
			n := dataplane.CounterName(i)
			names = append(names, n)
			values[n] = v
		}
	}
	sort.Slice(names, func(i, j int) bool {
		di, dj := strings.HasPrefix(names[i], "drop"), strings.HasPrefix(names[j], "drop")
		if di != dj {
			return dj
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		v := values[n]
		s := humanize.Comma(int64(v))
		if strings.Contains(n, "bytes") {
			s = humanize.Bytes(v)
		}
		fmt.Fprintf(w, "  %s\t%s\n", n, s)
	}
	w.Flush()

	ts := g.table.Stats()
	fmt.Printf("\nconnection table: %s live, %s created, %s expired, %s evicted, drops: full %s, invalid %s, no pickup %s, nat %s\n",
		humanize.Comma(int64(ts.Live)), humanize.Comma(int64(ts.Inserted)), humanize.Comma(int64(ts.Expired)), humanize.Comma(int64(ts.Evicted)),
		humanize.Comma(int64(ts.DropFull)), humanize.Comma(int64(ts.DropInvalid)), humanize.Comma(int64(ts.DropNoPickup)), humanize.Comma(int64(ts.DropNAT)))

	if st, err := g.engine.SocketStats(); err == nil {
		fmt.Println("\nAF_XDP sockets (kernel counters):")
		w = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "  socket\trx_dropped\trx_invalid\ttx_invalid\trx_ring_full\tfill_empty\ttx_empty\t")
		var keys []string
		for k := range st {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := st[k]
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k, humanize.Comma(int64(s.RxDropped)), humanize.Comma(int64(s.RxInvalidDescs)),
				humanize.Comma(int64(s.TxInvalidDescs)), humanize.Comma(int64(s.RxRingFull)), humanize.Comma(int64(s.FillRingEmptyDescs)), humanize.Comma(int64(s.TxRingEmptyDescs)))
		}
		w.Flush()
	}
	if sc, err := g.engine.Steering().ReadCounters(); err == nil {
		fmt.Print("\nhanded to gw1's kernel by the steering program:")
		for i, v := range sc {
			if i != xdp.CountCCP && v != 0 {
				fmt.Printf(" %s=%s", xdp.CounterName(i), humanize.Comma(int64(v)))
			}
		}
		fmt.Println()
	}
	ms := g.engine.Mirror().Stats()
	fmt.Printf("neighbour mirror: %d neighbour and %d route updates from netlink, %d resolutions asked\n", ms.NeighUpdates, ms.RouteUpdates, ms.ResolveRequests)
}
