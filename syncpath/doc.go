// Package syncpath is the session layer of Tandem's state synchronisation:
// it carries the connection records a member's conntrack table emits to the
// peer that backs those connections up, reliably, over an unreliable
// datagram Transport, and applies the records the peer sends to the local
// table as backup state.
//
// It owns:
//
//   - the Transport interface and the kernel UDP transport (UDPTransport);
//     the in-memory lossy transport for tests is package syncpath/synctest;
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
// connection table (dataplane/conntrack), role election and failover, or the
// AF_XDP transport (not written yet: UDPTransport serves meanwhile).
//
// # Driving a session
//
// A Session is a state machine run by one goroutine (the sync worker): Poll
// receives a batch of datagrams, drains the sink, sends what is due and
// handles every timer, reading time only from the injected clock.Clock. Tests
// drive it with a clock.Manual and synctest, so every delay, loss and
// retransmission is deterministic; Run is the production loop around Poll.
// Counters and LagSnapshot are safe to call from any goroutine.
package syncpath
