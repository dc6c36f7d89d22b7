// Package syncpath is the session layer of Tandem's state synchronisation:
// it carries the connection records a member's conntrack table emits to the
// peer that backs those connections up, reliably, over an unreliable
// datagram Transport, and applies the records the peer sends to the local
// table as backup state.
//
// It owns:
//
//   - the Transport interface and its two transports: the AF_XDP transport
//     of the sync link (XSKTransport, ListenXSK: one AF_XDP socket on the
//     sync interface's queue, the steering program sending CCP to it and
//     everything else to the kernel, Ethernet/IP/UDP headers built here,
//     peer MAC addresses from the kernel's neighbour table, received
//     frames checked with a counter per drop reason) and the kernel UDP
//     transport (UDPTransport); the in-memory lossy transport for tests is
//     package syncpath/synctest;
//   - the record sink the dataplane emits into (Sink, over a ring.MPSC);
//   - delayed notifications (a connection younger than Config.Delay is not
//     sent; one that ends before then costs nothing);
//   - coalescing (at most one waiting record per connection, newest version
//     wins, new and delete records before refreshes) and packing into DELTA
//     frames up to the sync link's MTU;
//   - the bandwidth limit of data frames (a token bucket, changeable at run
//     time with Session.SetBandwidth);
//   - reliability: a bounded retransmit window keyed by ccp DataSeq,
//     cumulative ack plus selective nack ranges, retransmission on nack and
//     on timeout, acks sent at a bounded rate;
//   - heartbeats, sent on a timer ahead of any queued data;
//   - full sync: a snapshot streamed with conntrack.Table.RangeFrom in
//     FULLSYNC_CHUNK frames while forwarding goes on, the records emitted
//     meanwhile kept (coalesced) in a changelog and replayed after
//     FULLSYNC_DONE; the backup then removes the peer's entries the snapshot
//     did not contain, so it converges to an exact copy;
//   - the figures an operator reads (Counters, the lag histogram).
//
// It does not own the wire format or authentication (syncpath/ccp), the
// connection table (dataplane/conntrack), the AF_XDP socket and the XDP
// program themselves (dataplane/xsk, dataplane/xdp), or role election and
// failover.
//
// # Driving a session
//
// A Session is a state machine run by one goroutine (the sync worker): Poll
// receives a batch of datagrams, drains the sink, sends what is due and
// handles every timer, reading time only from the injected clock.Clock. Tests
// drive it with a clock.Manual and synctest, so every delay, loss and
// retransmission is deterministic; Run is the production loop around Poll.
// Counters and LagSnapshot are safe to call from any goroutine.
//
// A transport belongs to the session's goroutine too: Send and Receive are
// called only from Poll. Close may be called from any goroutine (it ends
// Run, which then returns nil); XSKTransport.Stats as well.
//
// # Wiring a member (what tandemd does)
//
// On a thread in the sync interface's network namespace:
//
//	tr, err := syncpath.ListenXSK(syncpath.XSKConfig{
//		Ifname: "sync0",
//		Local:  netip.MustParseAddrPort("10.77.3.1:8116"),
//		Peers:  map[uint8]netip.AddrPort{2: netip.MustParseAddrPort("10.77.3.2:8116")},
//	})
//	sink, _ := syncpath.NewSink(1 << 18) // the table's Config.Records
//	s, err := syncpath.New(syncpath.Config{Cluster: 1, Self: 1, Peer: 2, Epoch: epoch,
//		Keys: keys, Transport: tr, Table: table, Sink: sink, MTU: 9000})
//	go s.Run(ctx) // the sync worker; tr.Close() after it returns
//
// ListenUDP with a UDPConfig of the same addresses gives the kernel UDP
// transport instead.
package syncpath
