package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/tools/lab"
)

// Long-lived lab traffic for the failover demo and tests: TCP connections
// from the client to an echo server, each sending a message every interval
// and checking every echo, and a capture of the data arriving at the
// server that measures the traffic gap of a failover.

const (
	echoPort     = 7000
	msgInterval  = 100 * time.Millisecond
	echoMsgSize  = 16 // conn id u32, seq u64, 4 bytes padding
	arrivalsPoll = 100 * time.Millisecond
)

// echoServer accepts connections in the server namespace and echoes every
// message; it records the client addresses it saw.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	peers []netip.AddrPort
}

func startEchoServer(ns string) (*echoServer, error) {
	s := &echoServer{}
	if err := lab.Do(ns, func() (err error) {
		s.ln, err = net.Listen("tcp4", netip.AddrPortFrom(lab.ServerAddr, echoPort).String())
		return err
	}); err != nil {
		return nil, fmt.Errorf("echo server: %w", err)
	}
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.peers = append(s.peers, c.RemoteAddr().(*net.TCPAddr).AddrPort())
			s.mu.Unlock()
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return s, nil
}

func (s *echoServer) close() { s.ln.Close() }

// clients returns the client addresses the server saw.
func (s *echoServer) clients() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.peers...)
}

// arrivals records when TCP segments carrying data to the echo port
// arrive at the server's interface, from an AF_PACKET socket: the packets
// the gateway forwarded, whichever member forwarded them.
type arrivals struct {
	fd    int
	mu    sync.Mutex
	times []time.Time
	stop  atomic.Bool
	done  chan struct{}
}

func startArrivals(ns string) (*arrivals, error) {
	a := &arrivals{done: make(chan struct{})}
	if err := lab.Do(ns, func() error {
		ifi, err := net.InterfaceByName(lab.IfClient)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval(int64(arrivalsPoll))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		a.fd = fd
		return nil
	}); err != nil {
		return nil, fmt.Errorf("capturing arrivals: %w", err)
	}
	go a.run()
	return a, nil
}

func (a *arrivals) run() {
	defer close(a.done)
	buf := make([]byte, 2048)
	for !a.stop.Load() {
		n, _, err := unix.Recvfrom(a.fd, buf, 0)
		if err != nil || n < 40 {
			continue
		}
		ihl := int(buf[0]&0x0f) * 4
		if buf[9] != unix.IPPROTO_TCP || n < ihl+20 {
			continue
		}
		total := int(binary.BigEndian.Uint16(buf[2:]))
		dport := binary.BigEndian.Uint16(buf[ihl+2:])
		doff := int(buf[ihl+12]>>4) * 4
		if dport == echoPort && total > ihl+doff {
			a.mu.Lock()
			a.times = append(a.times, time.Now())
			a.mu.Unlock()
		}
	}
}

func (a *arrivals) close() {
	a.stop.Store(true)
	<-a.done
	unix.Close(a.fd)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// gapAfter returns the longest silence between data arrivals that began
// between half a second before event and 1.5 s after: the time the
// failover stopped traffic.
func (a *arrivals) gapAfter(event time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(a.times); i++ {
		prev := a.times[i-1]
		if prev.Before(event.Add(-500*time.Millisecond)) || prev.After(event.Add(1500*time.Millisecond)) {
			continue
		}
		gap = max(gap, a.times[i].Sub(prev))
	}
	return gap
}

// echoConn is one long-lived connection: a writer sends a message every
// interval, a reader checks every echo, in order.
type echoConn struct {
	c    net.Conn
	id   uint32
	sent atomic.Uint64
	got  atomic.Uint64
	err  atomic.Pointer[error]
}

func (c *echoConn) fail(err error) { c.err.CompareAndSwap(nil, &err) }

// run starts the writer and the reader; both return once stop is closed.
// The writers of n connections spread their phases over the interval, so
// that together they send every interval/n and a silence at the server
// measures a failover, not their rhythm.
func (c *echoConn) run(n int, stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(2)
	go func() {
		defer wg.Done()
		time.Sleep(msgInterval * time.Duration(c.id) / time.Duration(n))
		tick := time.NewTicker(msgInterval)
		defer tick.Stop()
		var msg [echoMsgSize]byte
		binary.BigEndian.PutUint32(msg[:], c.id)
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if c.err.Load() != nil {
				return
			}
			binary.BigEndian.PutUint64(msg[4:], seq)
			_ = c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.c.Write(msg[:]); err != nil {
				c.fail(fmt.Errorf("writing message %d: %w", seq, err))
				return
			}
			c.sent.Store(seq)
		}
	}()
	go func() {
		defer wg.Done()
		var msg [echoMsgSize]byte
		for seq := uint64(1); ; seq++ {
			_ = c.c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := io.ReadFull(c.c, msg[:]); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					// A late echo: wait on, unless the run is over
					// (the end check counts what arrived).
					select {
					case <-stop:
						return
					default:
					}
					seq--
					continue
				}
				c.fail(fmt.Errorf("reading echo %d: %w", seq, err))
				return
			}
			if id, s := binary.BigEndian.Uint32(msg[:]), binary.BigEndian.Uint64(msg[4:]); id != c.id || s != seq {
				c.fail(fmt.Errorf("echo %d: got connection %d message %d", seq, id, s))
				return
			}
			c.got.Store(seq)
		}
	}()
}

// broken says why c did not survive, or "" if it did: an error, or echoes
// missing beyond the last two (which may still be on their way).
func (c *echoConn) broken() string {
	if e := c.err.Load(); e != nil {
		return fmt.Sprintf("connection %d: %v", c.id, *e)
	}
	if sent, got := c.sent.Load(), c.got.Load(); got+2 < sent {
		return fmt.Sprintf("connection %d: %d messages sent, %d echoed", c.id, sent, got)
	}
	return ""
}

// dialEchoConns opens n connections from the client namespace to the
// echo server.
func dialEchoConns(ns string, n int) ([]*echoConn, error) {
	conns := make([]*echoConn, 0, n)
	err := lab.Do(ns, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		for i := range n {
			c, err := d.Dial("tcp4", netip.AddrPortFrom(lab.ServerAddr, echoPort).String())
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			conns = append(conns, &echoConn{c: c, id: uint32(i)})
		}
		return nil
	})
	if err != nil {
		for _, c := range conns {
			c.c.Close()
		}
		return nil, err
	}
	return conns, nil
}
