// Package ring provides bounded, lock-free, allocation-free rings that hand
// values from producers to one consumer: SPSC for one producer goroutine and
// MPSC for many. They carry every state change from the dataplane workers to
// the sync worker.
//
// Both rings are non-blocking: Enqueue and EnqueueBatch take what fits and say
// how much that was, Dequeue and DequeueBatch return what is there. Waiting,
// spinning, parking and counting overflow are the caller's business. Batch
// operations touch the shared indices once per batch; each side also keeps a
// private copy of the other side's index and reads the shared one only when its
// copy says the ring is full (producer) or empty (consumer).
//
// # Memory ordering
//
// Each comment on an atomic operation names the ordering it relies on: a
// "release" store publishes every load and store made before it, and an
// "acquire" load that observes such a store makes those effects visible to
// the code after it. Slot payloads (of any type T) are written and read with
// plain memory operations; a release store of an index (SPSC) or of a
// per-slot sequence number (MPSC) is what publishes them, and the matching
// acquire load is what lets the other side touch them. Nothing relies on
// sequential consistency.
//
// Loads are sync/atomic Loads. Release stores go through storeRelease: a
// plain MOV from assembly on amd64, which x86-64 orders as a release store,
// and a sync/atomic Store (sequentially consistent, an XCHG on amd64)
// elsewhere, in -race builds, and with -tags ringatomic. The XCHG waits until
// the core owns the cache line the other side is polling, which doubled the
// median single enqueue on the benchmark machine; -tags ringatomic reproduces
// that. The race detector thus checks the same happens-before edges with
// sync/atomic, and the rings are clean under -race. The MPSC's reservation is
// a sync/atomic compare-and-swap, for its atomicity.
//
// The package owns the rings only: it makes no system calls, does not pin
// goroutines, and does not measure itself (see the benchmarks for that).
package ring
