package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// dataProbe carries heartbeats over the data links (inside, outside),
// between the members' own addresses there, through the kernel: when the
// sync link alone fails, the backup still hears the active and does not
// take over (split brain; docs/ha.md). The frames are CCP heartbeats
// sealed under the cluster keys with the member's boot epoch plus 2^31,
// so that their nonces never meet the sync session's.
type dataProbe struct {
	peer   uint8
	clk    clock.Clock
	links  []probeLink
	sealer *ccp.Sealer // used by the sync worker only
	buf    []byte

	lastHeard atomic.Int64  // clock time of the last heartbeat received on any data link
	peerRole  atomic.Uint32 // role | priority<<8 of that heartbeat
	received  atomic.Uint64
	rejected  atomic.Uint64
	wg        sync.WaitGroup
}

type probeLink struct {
	conn *net.UDPConn
	to   netip.AddrPort
}

// probeEpochBit marks data-link heartbeat epochs.
const probeEpochBit = 1 << 31

// startDataProbe opens a socket on each data link that has one of the
// peer's data addresses; nil (no probe) when the config gives none.
func startDataProbe(c *config.Config, keys *ccp.Keyring, epoch uint32, clk clock.Clock) (*dataProbe, error) {
	p := c.Peers[0]
	if len(p.DataAddresses) == 0 {
		return nil, nil
	}
	if epoch&probeEpochBit != 0 {
		return nil, fmt.Errorf("boot epoch %d is 2^31 or more: data-link heartbeats need the top bit", epoch)
	}
	sealer, err := ccp.NewSealer(keys, uint16(c.Sync.ClusterID), uint8(c.Member.ID), epoch|probeEpochBit)
	if err != nil {
		return nil, err
	}
	d := &dataProbe{peer: uint8(p.ID), clk: clk, sealer: sealer, buf: make([]byte, 0, 256)}
	port := uint16(c.Sync.Port)
	for _, pa := range p.DataAddresses {
		local, ok := ownAddrOnLink(c, pa.Addr)
		if !ok {
			d.close()
			return nil, fmt.Errorf("peers[0].data_addresses: %v: no address of this member on its link", pa.Addr)
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, port)))
		if err != nil {
			d.close()
			return nil, fmt.Errorf("data-link heartbeats: %w", err)
		}
		d.links = append(d.links, probeLink{conn: conn, to: netip.AddrPortFrom(pa.Addr, port)})
	}
	for _, l := range d.links {
		d.wg.Add(1)
		go d.receive(l.conn, ccp.NewOpener(keys, uint16(c.Sync.ClusterID), uint8(c.Member.ID)))
	}
	return d, nil
}

// ownAddrOnLink finds this member's address on the inside or outside
// link whose subnet holds a.
func ownAddrOnLink(c *config.Config, a netip.Addr) (netip.Addr, bool) {
	for _, name := range c.InterfaceNames() {
		ifc := c.Interfaces[name]
		if ifc.Role == config.RoleSync {
			continue
		}
		for _, p := range ifc.Addresses {
			if p.Masked().Contains(a) {
				return p.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// send sends one heartbeat on every data link. Precondition: called by
// the sync worker.
func (d *dataProbe) send(role ccp.Role, priority uint8, status uint8) {
	hb := ccp.Heartbeat{Role: role, Priority: priority, Status: status, Time: uint64(d.clk.Now())}
	for _, l := range d.links {
		frame, err := d.sealer.SealMessage(d.buf[:0], ccp.Header{Target: d.peer}, &hb)
		if err != nil {
			return
		}
		_, _ = l.conn.WriteToUDPAddrPort(frame, l.to) // a link down is what the probe is for
	}
}

// receive reads one link's heartbeats until the socket closes.
func (d *dataProbe) receive(conn *net.UDPConn, o *ccp.Opener) {
	defer d.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		f, err := o.Open(buf[:n])
		var hb ccp.Heartbeat
		if err != nil || f.Sender != d.peer || f.Epoch&probeEpochBit == 0 || hb.Decode(&f) != nil {
			d.rejected.Add(1)
			continue
		}
		d.received.Add(1)
		d.peerRole.Store(uint32(hb.Role) | uint32(hb.Priority)<<8)
		d.lastHeard.Store(d.clk.Now())
	}
}

// heard returns when a heartbeat last came over a data link (0: never) and
// the role and priority it announced.
func (d *dataProbe) heard() (int64, ccp.Role, uint8) {
	if d == nil {
		return 0, 0, 0
	}
	v := d.peerRole.Load()
	return d.lastHeard.Load(), ccp.Role(v), uint8(v >> 8)
}

func (d *dataProbe) close() {
	if d == nil {
		return
	}
	for _, l := range d.links {
		l.conn.Close()
	}
	d.wg.Wait()
}
