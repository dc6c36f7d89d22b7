// Package xdp holds Tandem's XDP programs and their loader.
//
// The programs are written with cilium/ebpf's asm package rather than in C:
// there is no generated object to drift from its source, and building Tandem
// never needs clang. They are small, and every branch is covered by tests that
// run them on crafted packets with ebpf.Program.Run.
//
//   - The steering program (NewSteering) runs on every interface Tandem owns.
//     On the sync interface, UDP to the CCP port (8116) goes to the "ccp"
//     socket's slot of the XSKMAP. On a data interface, other IPv4 and IPv6
//     traffic goes to the socket of the queue it arrived on. ARP, IPv6
//     neighbour discovery, IPv6 with a hop-by-hop header (MLD), anything else,
//     and anything whose XSKMAP slot is empty go XDP_PASS to the kernel, which
//     keeps the control plane.
//   - The ceiling program (NewCeiling) drops everything and counts it: the
//     fastest any receiver on that interface could be, which benchmarks quote
//     our own receive rate against.
//
// Attach tries native (driver) mode and falls back to generic mode, and
// reports which it got. Attachments are bpf_links: the kernel detaches them
// when the process exits, even by SIGKILL, so nothing is left behind. A
// program attached the legacy way (netlink) by an older Tandem is removed at
// the next attach (RemoveStale); a foreign program is never touched.
//
// The package does not create AF_XDP sockets (dataplane/xsk does) nor decide
// which queue a worker serves (the engine does).
package xdp
