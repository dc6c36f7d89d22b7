// Package lab builds and removes Tandem's network-namespace lab, the test
// bed of every privileged test and benchmark.
//
// The full topology ([Up]) is the one of docs/architecture.md:
//
//	client ── lan (bridge) ──┬── gw1 ──┬── wan (bridge) ── server
//	                         └── gw2 ──┘
//	                 gw1 ══ sync link ══ gw2
//
// Every host is a network namespace named <prefix>-<host>. The gateways'
// inside ("in0") and outside ("out0") veths have several queues; the sync link
// ("sync0") joins gw1 and gw2 directly. [UpPair] builds the smallest lab, two
// namespaces and one veth pair, for the AF_XDP benchmarks.
//
// Links are created straight into their namespaces, so no name is ever taken
// in the host's own namespace, and deleting a namespace removes its links:
// [Lab.Down] kills what still runs inside, deletes the namespaces, and leaves
// nothing behind; [Up] first removes whatever an earlier, failed run left
// under the same prefix. Different prefixes never clash.
//
// Traffic only ever goes to the addresses assigned here, inside these
// namespaces. The package does not start Tandem or any traffic.
package lab
