// Package dataplane is Tandem's forwarding engine: the workers that move
// packets between a gateway's inside and outside interfaces through AF_XDP.
//
// Each worker owns one queue of both interfaces: two sockets on one UMEM, so a
// frame received on one side is transmitted on the other without a copy (in
// zero-copy mode; copy mode copies in the kernel). It runs on one goroutine,
// locked to an OS thread pinned to the core the configuration gives it, and
// for each batch of frames runs the pipeline:
//
//	decode (package packet) → connection tracking, policy and NAT (package
//	conntrack) → TTL / hop limit, with ICMP time exceeded back to the sender →
//	route and neighbour (package nexthop) → MAC rewrite → transmit
//
// Every packet that is not forwarded is counted under the reason it was
// dropped (see CounterName); nothing is dropped silently. When a worker's
// queues are empty it spins for a while, then sleeps in poll() unless
// configured to spin, so an idle gateway does not burn its cores.
//
// The engine does not load the configuration file (package control/config),
// replicate state (package syncpath) or talk to operators (package control);
// it exposes counters for them.
package dataplane
