package dataplane

import (
	"fmt"
	"sync/atomic"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/dataplane/packet"
)

// Counter indices. Each worker counts into a plain array and publishes it
// once per batch; see Counters.
const (
	CountRxInside = iota
	CountRxOutside
	CountRxBytesInside
	CountRxBytesOutside
	CountTxInside
	CountTxOutside
	CountTxBytesInside
	CountTxBytesOutside
	CountForwarded
	CountNewConnections
	CountNATed
	CountICMPSent // time exceeded sent back to a sender
	CountToKernel // next hop unresolved: handed to the kernel, which resolves it and sends the packet
	CountRelated  // ICMP errors about a tracked connection, forwarded (translated if it is)

	CountDropNotIP         // a frame that is not IPv4 or IPv6 reached a socket
	CountDropMulticast     // a multicast destination: the gateway does not route multicast
	CountDropFragment      // a later fragment: no ports to track it by
	CountDropProtocol      // a transport protocol the engine does not track
	CountDropICMPError     // an ICMP error (related traffic is not tracked yet)
	CountDropPolicy        // a new connection the policy refuses
	CountDropConnFull      // the connection table is full
	CountDropConnInvalid   // refused by the TCP state machine or window check
	CountDropConnNoPickup  // TCP not starting with SYN for an unknown connection
	CountDropNAT           // no NAT mapping could be allocated
	CountDropTTL           // TTL or hop limit ran out
	CountDropNoRoute       // no route to the destination
	CountDropNoNeighbor    // next hop not resolved, and the kernel would not take the packet
	CountDropEgress        // the route leaves by an interface the engine does not own
	CountDropTxFull        // the egress tx ring was full
	CountDropBadDescriptor // a descriptor outside the UMEM
	CountDropNoFrame       // no free frame for an ICMP error
	countDecodeBase        // then one counter per packet.DropReason
	numCounters            = countDecodeBase + int(packet.NumDropReasons)
)

var counterNames = [countDecodeBase]string{
	"rx_inside", "rx_outside", "rx_bytes_inside", "rx_bytes_outside",
	"tx_inside", "tx_outside", "tx_bytes_inside", "tx_bytes_outside",
	"forwarded", "new_connections", "nated", "icmp_sent", "to_kernel", "related",
	"drop_not_ip", "drop_multicast", "drop_fragment", "drop_protocol", "drop_icmp_error", "drop_policy",
	"drop_conn_full", "drop_conn_invalid", "drop_conn_no_pickup", "drop_nat",
	"drop_ttl", "drop_no_route", "drop_no_neighbor", "drop_egress", "drop_tx_full",
	"drop_bad_descriptor", "drop_no_frame",
}

// NumCounters is the number of counters.
const NumCounters = numCounters

// CounterName names counter i for logs, the CLI and metrics.
func CounterName(i int) string {
	switch {
	case i < 0 || i >= numCounters:
		return fmt.Sprintf("counter%d", i)
	case i < countDecodeBase:
		return counterNames[i]
	default:
		return "drop_decode_" + packet.DropReason(i-countDecodeBase).String()
	}
}

// Counters is a snapshot of one worker's (or, summed, the engine's)
// counters, indexed by the Count constants.
type Counters [numCounters]uint64

// Add adds o into c.
func (c *Counters) Add(o *Counters) {
	for i := range c {
		c[i] += o[i]
	}
}

// published is a worker's counters as other goroutines read them: written
// by the worker with atomic stores (release) at the end of each batch, read
// with atomic loads (acquire). Each counter has one writer, so a store of the
// worker's running total is enough.
type published [numCounters]atomic.Uint64

func (p *published) publish(c *Counters) {
	for i := range c {
		p[i].Store(c[i])
	}
}

func (p *published) snapshot() Counters {
	var c Counters
	for i := range p {
		c[i] = p[i].Load()
	}
	return c
}

// conntrackDrop maps a conntrack verdict to its counter.
func conntrackDrop(v conntrack.Verdict) int {
	switch v {
	case conntrack.DropFull:
		return CountDropConnFull
	case conntrack.DropNoPickup:
		return CountDropConnNoPickup
	case conntrack.DropNAT:
		return CountDropNAT
	default:
		return CountDropConnInvalid
	}
}
