// Package nexthop mirrors the kernel's routing and neighbour tables, so that
// the dataplane can tell for every packet which interface it leaves by and to
// which MAC address, without a system call.
//
// The kernel stays the control plane: it answers ARP and neighbour discovery,
// learns routes, and ages neighbours. A [Mirror] subscribes to its netlink
// notifications (no polling), keeps immutable copies of both tables and
// publishes each new copy with an atomic pointer store. Lookups on the packet
// path load the pointer (acquire: the whole table it points at is visible),
// take no lock and allocate nothing. Updates are rare next to lookups, so
// copying a table on each one is the cheap side of the trade.
//
// A packet whose next hop has no usable neighbour entry is not sent. The
// caller counts the miss and calls [Mirror.Resolve], which asks the kernel to
// resolve the address (netlink NTF_USE, as a kernel-originated packet would),
// at most once per address per ResolveInterval, from a goroutine of its own:
// the packet path never blocks on it.
//
// The package does not forward packets, and it holds no routing policy of its
// own: it reports what the kernel's main table says.
package nexthop
