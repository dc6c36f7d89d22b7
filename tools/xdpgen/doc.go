// Package xdpgen is Tandem's traffic generator: it sends Ethernet/IPv4/UDP
// frames out of an interface at kernel speed, with many distinct flows.
//
// Debian's xdp-tools does not load on the kernels Tandem targets, and trafgen
// is too slow to saturate an AF_XDP receiver, so the generator runs an XDP_TX
// program through BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: the kernel
// transmits each run's frame out of the interface named as the ingress
// device. On a veth pair the frames arrive at the peer, which must have a
// native XDP program attached (or GRO on) or they are dropped silently.
//
// Every run rewrites the UDP ports from a per-CPU counter, so that flow i of
// n has source port base+(i mod 65536) and destination port
// dport+(i div 65536): up to 1M distinct 5-tuples with the IPv4 header left
// untouched (UDP checksum 0, which IPv4 allows).
//
// The package also builds single frames (UDP4Frame) for tests.
package xdpgen
