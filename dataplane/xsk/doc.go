// Package xsk is Tandem's AF_XDP layer, written directly on golang.org/x/sys/unix.
//
// It owns the kernel objects of an AF_XDP socket and nothing above them:
//
//   - [UMEM]: the packet buffer area shared with the kernel, registered once
//     and shared by every [Socket] opened on it (XDP_SHARED_UMEM), so that a
//     frame received on one interface can be transmitted on another without a
//     copy;
//   - [FreeList]: a stack of frame addresses that one goroutine hands out and
//     takes back;
//   - the four rings, mapped at the offsets the kernel reports
//     (XDP_MMAP_OFFSETS): [FillQueue] and [TxQueue], where user space is the
//     producer, and [RxQueue] and [CompletionQueue], where it is the consumer;
//   - [Socket]: ring set-up, the bind with its mode fallback (zero-copy first,
//     copy where the driver has none), need_wakeup, multi-buffer frames
//     (XDP_USE_SG), the busy-poll socket options, and XDP_STATISTICS.
//
// It does not load or attach XDP programs (package dataplane/xdp does that and
// puts a Socket's FD into its XSKMAP), parse packets, or run workers.
//
// # Rings and memory ordering
//
// Each ring is a single-producer single-consumer queue shared with the kernel.
// The kernel's side uses smp_load_acquire and smp_store_release on the producer
// and consumer indices (net/xdp/xsk_queue.h). Ours uses sync/atomic, which in Go
// is sequentially consistent and therefore at least as strong:
//
//   - a producer writes descriptors with plain stores, then publishes them with
//     an atomic store of the producer index (release: the descriptors are
//     visible before the index that covers them);
//   - a consumer loads the producer index atomically (acquire: the descriptors
//     it covers are visible) before reading descriptors with plain loads, and
//     hands slots back with an atomic store of the consumer index (release: its
//     reads are done before the kernel may overwrite the slots);
//   - a producer loads the consumer index atomically (acquire) before it reuses
//     slots the kernel has consumed.
//
// Every queue keeps cached copies of both indices and touches the shared ones
// only at batch boundaries: one atomic store per batch, and an atomic load only
// when the cached view has run out.
//
// # Concurrency
//
// None of the queue types, nor FreeList, is safe for concurrent use: each is
// owned by one goroutine (in Tandem, a worker pinned to a core). Socket's
// set-up, statistics and Close may be called from another goroutine than the
// one that drives the rings, but not concurrently with Close.
package xsk
