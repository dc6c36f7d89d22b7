package dataplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/dataplane"
	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// gateway is gw1 of a lab running the engine: VIPs and the SNAT address on
// its kernel's interfaces (so its kernel answers ARP and ND for them), the
// engine forwarding between in0 and out0.
type gateway struct {
	lab    *lab.Lab
	engine *dataplane.Engine
	table  *conntrack.Table
}

func newGateway(t *testing.T, policy dataplane.Policy) *gateway {
	t.Helper()
	l := labtest.New(t, lab.Config{Queues: 2})
	for _, a := range []struct {
		ifname string
		addr   netip.Addr
	}{
		{lab.IfInside, lab.InsideVIP}, {lab.IfInside, lab.InsideVIP6},
		{lab.IfOutside, lab.OutsideVIP}, {lab.IfOutside, lab.OutsideVIP6},
		{lab.IfOutside, lab.SNATAddr},
	} {
		if err := lab.AddAddr(l.GW1, a.ifname, a.addr); err != nil {
			t.Fatal(err)
		}
	}
	table, err := conntrack.New(conntrack.Config{
		MaxEntries: 1 << 16, Self: 1,
		SNAT: []conntrack.SNATPool{{Addrs: []netip.Addr{lab.SNATAddr}, PortMin: 20000, PortMax: 59999}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{lab: l, table: table}
	labtest.Do(t, l.GW1, func() (err error) {
		g.engine, err = dataplane.New(dataplane.Config{
			Inside:  dataplane.Interface{Name: lab.IfInside, Addr4: lab.InsideVIP, Addr6: lab.InsideVIP6},
			Outside: dataplane.Interface{Name: lab.IfOutside, Addr4: lab.OutsideVIP, Addr6: lab.OutsideVIP6},
			Queues:  2,
			Local: []netip.Addr{lab.InsideVIP, lab.InsideVIP6, lab.OutsideVIP, lab.OutsideVIP6,
				lab.GW1Inside, lab.GW1Inside6, lab.GW1Outside, lab.GW1Outside6},
			Policy: policy,
			Table:  table,
			// Two workers share this 2-core machine with the test itself.
			IdleSpins: 1000,
		})
		return err
	})
	if err := g.engine.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.engine.Stop(); err != nil {
			t.Errorf("stopping engine: %v", err)
		}
	})
	return g
}

func (g *gateway) counters(t *testing.T) map[string]uint64 {
	c := g.engine.Counters()
	m := map[string]uint64{}
	for i, v := range c {
		if v != 0 {
			m[dataplane.CounterName(i)] = v
		}
	}
	return m
}

// dialIn dials from inside namespace ns.
func dialIn(ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := lab.Do(ns, func() (err error) {
		c, err = net.DialTimeout(network, addr, 5*time.Second)
		return err
	})
	return c, err
}

func listenIn(t *testing.T, ns, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	labtest.Do(t, ns, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestGatewayForwardsWithSNAT(t *testing.T) {
	g := newGateway(t, dataplane.Policy{AllowFromInside: true, AllowRelated: true, SNAT: 0, SNAT6: -1})

	t.Run("http_over_tcp_sees_snat_address", func(t *testing.T) {
		ln := listenIn(t, g.lab.Server, "tcp", net.JoinHostPort(lab.ServerAddr.String(), "8080"))
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, r.RemoteAddr)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
				return dialIn(g.lab.Client, network, addr)
			},
		}}
		resp, err := client.Get("http://" + net.JoinHostPort(lab.ServerAddr.String(), "8080") + "/")
		if err != nil {
			out, _ := lab.Command(g.lab.Server, "nstat", "-az").CombinedOutput()
			out2, _ := lab.Command(g.lab.Server, "ip", "-s", "link").CombinedOutput()
			t.Fatalf("GET through the gateway: %v (counters %v)\n%s\n%s", err, g.counters(t), grepLines(string(out), "Csum|InErr|TcpIn|OutRsts|InSegs|Udp"), out2)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		remote, err := netip.ParseAddrPort(string(body))
		if err != nil {
			t.Fatalf("server saw %q", body)
		}
		if remote.Addr() != lab.SNATAddr {
			t.Errorf("server saw the client as %v, want the SNAT address %v", remote, lab.SNATAddr)
		}
		if remote.Port() < 20000 || remote.Port() > 59999 {
			t.Errorf("SNAT port %d outside the pool's 20000-59999", remote.Port())
		}
	})

	t.Run("udp_request_response", func(t *testing.T) {
		var pc net.PacketConn
		labtest.Do(t, g.lab.Server, func() (err error) {
			pc, err = net.ListenPacket("udp", net.JoinHostPort(lab.ServerAddr.String(), "5353"))
			return err
		})
		defer pc.Close()
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo([]byte("echo:"+string(buf[:n])+":from:"+from.String()), from)
			}
		}()
		c, err := dialIn(g.lab.Client, "udp", net.JoinHostPort(lab.ServerAddr.String(), "5353"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 1500)
		var reply string
		for try := 0; try < 5 && reply == ""; try++ { // UDP: the first may meet an unresolved neighbour
			c.Write([]byte("ping"))
			c.SetReadDeadline(time.Now().Add(time.Second))
			if n, err := c.Read(buf); err == nil {
				reply = string(buf[:n])
			}
		}
		if !strings.HasPrefix(reply, "echo:ping:from:"+lab.SNATAddr.String()+":") {
			t.Fatalf("reply %q, want the echo from the server seeing %v (counters %v)", reply, lab.SNATAddr, g.counters(t))
		}
	})

	t.Run("ping", func(t *testing.T) {
		out, err := lab.Command(g.lab.Client, "ping", "-c", "3", "-i", "0.2", "-W", "2", lab.ServerAddr.String()).CombinedOutput()
		if err != nil {
			t.Fatalf("ping through the gateway: %v\n%s(counters %v)", err, out, g.counters(t))
		}
	})

	t.Run("tcp_over_ipv6", func(t *testing.T) {
		ln := listenIn(t, g.lab.Server, "tcp", net.JoinHostPort(lab.ServerAddr6.String(), "8081"))
		seen := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- c.RemoteAddr().String()
			io.Copy(c, c)
			c.Close()
		}()
		c, err := dialIn(g.lab.Client, "tcp", net.JoinHostPort(lab.ServerAddr6.String(), "8081"))
		if err != nil {
			t.Fatalf("dial over IPv6: %v (counters %v)", err, g.counters(t))
		}
		defer c.Close()
		msg := strings.Repeat("tandem", 1000)
		go c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo over IPv6: %v", err)
		}
		if remote := <-seen; !strings.Contains(remote, lab.ClientAddr6.String()) {
			t.Errorf("server saw %s, want the client's own address (no NAT66)", remote)
		}
	})

	t.Run("connection_from_outside_refused", func(t *testing.T) {
		ln := listenIn(t, g.lab.Client, "tcp", net.JoinHostPort(lab.ClientAddr.String(), "2222"))
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		before := g.engine.Counters()[dataplane.CountDropPolicy]
		err := lab.Do(g.lab.Server, func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(lab.ClientAddr.String(), "2222"), 1500*time.Millisecond)
			if err == nil {
				c.Close()
				return fmt.Errorf("the server reached the client from outside")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if after := g.engine.Counters()[dataplane.CountDropPolicy]; after == before {
			t.Errorf("drop_policy did not count the refused SYN (counters %v)", g.counters(t))
		}
	})

	t.Run("iperf3_tcp_stream", func(t *testing.T) {
		srv := lab.Command(g.lab.Server, "iperf3", "-s", "-1", "-B", lab.ServerAddr.String(), "-p", "5201")
		if err := srv.Start(); err != nil {
			t.Fatalf("starting iperf3 server: %v", err)
		}
		defer srv.Process.Kill()
		var res struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
					Bytes         uint64  `json:"bytes"`
				} `json:"sum_received"`
				SumSent struct {
					Retransmits int `json:"retransmits"`
				} `json:"sum_sent"`
			} `json:"end"`
			Error string `json:"error"`
		}
		// iperf3 -J may exit 0 with "unable to connect" while its server
		// is still starting: try again until it moves data.
		for try := 0; try < 30; try++ {
			out, _ := lab.Command(g.lab.Client, "iperf3", "-c", lab.ServerAddr.String(), "-p", "5201", "-t", "3", "-J").Output()
			res.Error = ""
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("iperf3 output: %v\n%s", err, out)
			}
			if !strings.Contains(res.Error, "connect") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if res.End.SumReceived.Bytes == 0 {
			t.Fatalf("iperf3 moved no data through the gateway: %q (counters %v)", res.Error, g.counters(t))
		}
		t.Logf("iperf3 through the gateway (SNAT): %.0f Mbit/s received, %d retransmits",
			res.End.SumReceived.BitsPerSecond/1e6, res.End.SumSent.Retransmits)
	})

	// The server's kernel answers UDP to a closed port with a port
	// unreachable, sent to the SNAT address and quoting the translated
	// packet. Only if the gateway finds the connection and translates the
	// error back does the client's socket see "connection refused".
	for _, c := range []struct {
		name string
		dst  netip.Addr
	}{{"icmp_error_finds_its_connection", lab.ServerAddr}, {"icmpv6_error_finds_its_connection", lab.ServerAddr6}} {
		t.Run(c.name, func(t *testing.T) {
			before := g.engine.Counters()[dataplane.CountRelated]
			conn, err := dialIn(g.lab.Client, "udp", net.JoinHostPort(c.dst.String(), "9"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var readErr error
			for try := 0; try < 5; try++ {
				conn.Write([]byte("anyone?"))
				conn.SetReadDeadline(time.Now().Add(time.Second))
				_, readErr = conn.Read(make([]byte, 64))
				if readErr != nil && strings.Contains(readErr.Error(), "refused") {
					break
				}
			}
			if readErr == nil || !strings.Contains(readErr.Error(), "refused") {
				t.Fatalf("client read %v, want connection refused from the ICMP error (counters %v)", readErr, g.counters(t))
			}
			// Counters are published after the batch's transmit, which may
			// deliver the error first.
			deadline := time.Now().Add(time.Second)
			for g.engine.Counters()[dataplane.CountRelated] == before && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if g.engine.Counters()[dataplane.CountRelated] == before {
				t.Error("the error was not counted as related")
			}
		})
	}

	// With its neighbour entries flushed, the gateway cannot address the
	// server; one datagram, sent once, must still arrive: the engine hands
	// it to the kernel, which resolves the server and sends it.
	t.Run("unresolved_next_hop_goes_through_the_kernel", func(t *testing.T) {
		var pc net.PacketConn
		labtest.Do(t, g.lab.Server, func() (err error) {
			pc, err = net.ListenPacket("udp", net.JoinHostPort(lab.ServerAddr.String(), "7777"))
			return err
		})
		defer pc.Close()
		if out, err := lab.Command(g.lab.GW1, "ip", "neigh", "flush", "dev", lab.IfOutside).CombinedOutput(); err != nil {
			t.Fatalf("flushing neighbours: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond) // let the mirror see the flush
		before := g.engine.Counters()[dataplane.CountToKernel]
		c, err := dialIn(g.lab.Client, "udp", net.JoinHostPort(lab.ServerAddr.String(), "7777"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("first and only")); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 64)
		n, _, err := pc.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "first and only" {
			t.Fatalf("the server got %q, %v: the datagram was lost (counters %v)", buf[:n], err, g.counters(t))
		}
		deadline := time.Now().Add(time.Second)
		for g.engine.Counters()[dataplane.CountToKernel] == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if g.engine.Counters()[dataplane.CountToKernel] == before {
			t.Error("to_kernel did not count the hand-off")
		}
	})

	t.Run("table_holds_the_flows", func(t *testing.T) {
		// One entry per flow the subtests made: HTTP's TCP, UDP, ICMP
		// echo, TCP over IPv6, and none for the refused connection.
		protos := map[uint8]int{}
		outside := 0
		g.table.Range(func(r conntrack.Record) bool {
			protos[r.Key.Proto]++
			if r.Key.Src == padded(lab.ServerAddr) {
				outside++
			}
			return true
		})
		if protos[6] < 2 || protos[17] < 1 || protos[1] < 1 {
			t.Errorf("table holds %v by protocol, want TCP ≥ 2, UDP ≥ 1, ICMP ≥ 1", protos)
		}
		if outside != 0 {
			t.Errorf("%d entries originated from the server: the refused connection created state", outside)
		}
		c := g.counters(t)
		if c["forwarded"] == 0 || c["nated"] == 0 || c["new_connections"] < 4 {
			t.Errorf("counters %v", c)
		}
		t.Logf("counters: %v", c)
	})
}

// padded is how conntrack holds an IPv4 address: in the first 4 bytes.
func padded(a netip.Addr) [16]byte {
	var out [16]byte
	copy(out[:4], a.AsSlice())
	return out
}

func grepLines(s, pat string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range strings.Split(pat, "|") {
			if strings.Contains(l, p) && !strings.Contains(l, " 0 ") {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestNewFailsCleanly: a failure part way through New (here, an
// interface that does not exist) is an error with the interface's name,
// not a panic in the cleanup of what was set up before it.
func TestNewFailsCleanly(t *testing.T) {
	labtest.Require(t)
	table, err := conntrack.New(conntrack.Config{MaxEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	e, err := dataplane.New(dataplane.Config{
		Inside:  dataplane.Interface{Name: "tdm-none-in"},
		Outside: dataplane.Interface{Name: "tdm-none-out"},
		Table:   table,
	})
	if err == nil || e != nil {
		t.Fatalf("New with missing interfaces: %v, %v", e, err)
	}
	if !strings.Contains(err.Error(), "tdm-none-in") {
		t.Errorf("the error does not name the interface: %v", err)
	}
}

// TestNewRefusesBadNice: a nice value outside -20..19 is refused by New,
// before anything is set up.
func TestNewRefusesBadNice(t *testing.T) {
	table, err := conntrack.New(conntrack.Config{MaxEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for _, nice := range []int{-21, 20} {
		e, err := dataplane.New(dataplane.Config{
			Inside:  dataplane.Interface{Name: "tdm-none-in"},
			Outside: dataplane.Interface{Name: "tdm-none-out"},
			Table:   table,
			Nice:    nice,
		})
		if err == nil || e != nil || !strings.Contains(err.Error(), "must be -20 to 19") {
			t.Errorf("New with nice %d: %v, %v", nice, e, err)
		}
	}
}

// TestStartFailsWhenAWorkerCannotSetUp: a worker that cannot pin its thread
// (a core the machine does not have) fails Start with the reason, and the
// other worker is stopped, instead of an engine that runs with a queue
// nobody serves.
func TestStartFailsWhenAWorkerCannotSetUp(t *testing.T) {
	l := labtest.New(t, lab.Config{Queues: 2})
	table, err := conntrack.New(conntrack.Config{MaxEntries: 1024, Self: 1})
	if err != nil {
		t.Fatal(err)
	}
	var e *dataplane.Engine
	labtest.Do(t, l.GW1, func() (err error) {
		e, err = dataplane.New(dataplane.Config{
			Inside:  dataplane.Interface{Name: lab.IfInside, Addr4: lab.GW1Inside},
			Outside: dataplane.Interface{Name: lab.IfOutside, Addr4: lab.GW1Outside},
			Queues:  2,
			Cores:   []int{0, 1023},
			Table:   table,
		})
		return err
	})
	err = e.Start()
	if serr := e.Stop(); serr != nil {
		t.Errorf("stopping the engine after the failed start: %v", serr)
	}
	if err == nil || !strings.Contains(err.Error(), "worker 1: pinning to core 1023") {
		t.Fatalf("Start with a worker on core 1023: %v", err)
	}
}
