package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/tandem-gw/tandem/control/config"
	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/internal/histogram"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
	"github.com/tandem-gw/tandem/tools/lab"
)

// syncPair is the demo's replication: gw1's session, and on gw2 a backup
// session with a table of its own.
type syncPair struct {
	active, backup *syncpath.Session
	t1, t2         *syncpath.UDPTransport
	activeTable    *conntrack.Table
	backupTable    *conntrack.Table
	backupClk      *clock.Coarse
	cancel         context.CancelFunc
	done           chan struct{}
}

// startSyncPair starts the sessions; the transports are opened inside gw1's
// and gw2's namespaces, on their sync link addresses.
func startSyncPair(l *lab.Lab, g *gateway, sink *syncpath.Sink) (*syncPair, error) {
	keys := ccp.NewKeyring()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := keys.Add(1, ccp.AlgAES256GCM, key); err != nil {
		return nil, err
	}
	gw2cfg, err := config.DefaultFor(2)
	if err != nil {
		return nil, err
	}
	p2, err := planFrom(gw2cfg)
	if err != nil {
		return nil, err
	}
	sp := &syncPair{activeTable: g.table, done: make(chan struct{})}
	sp.backupClk = clock.NewCoarse(time.Millisecond)
	p2.table.Clock = sp.backupClk
	if sp.backupTable, err = conntrack.New(p2.table); err != nil {
		return nil, fmt.Errorf("backup table: %w", err)
	}
	port := uint16(ccp.UDPPort)
	gw1, gw2 := netip.AddrPortFrom(lab.GW1Sync, port), netip.AddrPortFrom(lab.GW2Sync, port)
	if err := lab.Do(l.GW1, func() (err error) {
		sp.t1, err = syncpath.ListenUDP(syncpath.UDPConfig{Local: gw1, Peers: map[uint8]netip.AddrPort{2: gw2}})
		return err
	}); err != nil {
		return nil, err
	}
	if err := lab.Do(l.GW2, func() (err error) {
		sp.t2, err = syncpath.ListenUDP(syncpath.UDPConfig{Local: gw2, Peers: map[uint8]netip.AddrPort{1: gw1}})
		return err
	}); err != nil {
		sp.t1.Close()
		return nil, err
	}
	epoch := uint32(time.Now().Unix())
	common := syncpath.Config{Cluster: 1, Epoch: epoch, Keys: keys, Delay: -1}
	a := common
	a.Self, a.Peer, a.Transport, a.Table, a.Sink = 1, 2, sp.t1, g.table, sink
	b := common
	b.Self, b.Peer, b.Transport, b.Table = 2, 1, sp.t2, sp.backupTable
	if sp.active, err = syncpath.New(a); err == nil {
		sp.backup, err = syncpath.New(b)
	}
	if err != nil {
		sp.t1.Close()
		sp.t2.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp.cancel = cancel
	go func() {
		defer close(sp.done)
		errc := make(chan error, 2)
		go func() { errc <- sp.active.Run(ctx) }()
		go func() { errc <- sp.backup.Run(ctx) }()
		<-errc
		<-errc
	}()
	return sp, nil
}

func (sp *syncPair) stop() {
	sp.cancel()
	<-sp.done
	sp.t1.Close()
	sp.t2.Close()
	sp.backupClk.Close()
}

// report waits for the backup to hold what the active holds, then prints
// the sync figures (what tandemctl syncstat will show).
func (sp *syncPair) report() error {
	var d1, d2 uint64
	var n1, n2 int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d1, n1 = sp.activeTable.Digest()
		d2, n2 = sp.backupTable.Digest()
		if d1 == d2 && n1 == n2 && n1 > 0 {
			break
		}
	}
	a, b := sp.active.Counters(), sp.backup.Counters()
	var lag histogram.Histogram
	sp.active.LagSnapshot(&lag)
	fmt.Println("\nsync gw1 → gw2 (syncstat):")
	fmt.Printf("  gw1 sent:     %s frames, %s records, %s; %s retransmits, %s nacks received, queue %d, in flight %d\n",
		humanize.Comma(int64(a.FramesSent)), humanize.Comma(int64(a.RecordsSent)), humanize.Bytes(a.BytesSent),
		humanize.Comma(int64(a.Retransmits)), humanize.Comma(int64(a.NacksReceived)), a.QueueDepth, a.InFlight)
	fmt.Printf("  gw2 received: %s frames, %s records, applied %s (stale %d), rejected %d, full syncs received %d\n",
		humanize.Comma(int64(b.FramesReceived)), humanize.Comma(int64(b.RecordsReceived)), humanize.Comma(int64(b.Applied)),
		b.ApplyStale, b.Rejected.Rejected(), b.FullSyncsReceived)
	if lag.Count() > 0 {
		fmt.Printf("  lag (state change on gw1 until acked by gw2): p50 %v, p99 %v, max %v\n",
			time.Duration(lag.Quantile(0.5)), time.Duration(lag.Quantile(0.99)), time.Duration(lag.Max()))
	}
	if d1 != d2 || n1 != n2 {
		return fmt.Errorf("the backup holds %d connections (digest %x), the active %d (digest %x)", n2, d2, n1, d1)
	}
	fmt.Printf("  backup in step: %d connections on both, table digests equal (%016x)\n", n1, d1)
	if b.Rejected.Rejected() != 0 {
		return errors.New("the backup rejected frames from the active")
	}
	return nil
}
