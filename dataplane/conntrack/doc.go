// Package conntrack is Tandem's connection table: flow keys, a sharded
// table with lock-free lookups, the TCP state machine and per-state
// timeouts, aging, source and destination NAT port allocation, and the
// delta records the sync path replicates to a backup member.
//
// It owns connection state only. It does not parse packets (the engine
// fills Key and Segment from dataplane/packet), rewrite packets (Track
// returns the Rewrite to apply), serialise records (syncpath/ccp), or
// decide policy: the engine picks the NATRequest of a new connection.
//
// # Layout and concurrency
//
// The table preallocates Config.MaxEntries entries of 128 bytes and an index
// of 2 buckets per entry (4 bytes each, rounded up to a power of two),
// about 136 bytes per entry with NAT state; it never allocates after New.
// Both arrays are advised onto transparent huge pages. Entries link into
// bucket chains by 32-bit index (hlist_nulls style: a chain ends with a
// marker naming its bucket). The hash is symmetric, so a connection
// without NAT has one index node that both directions find; a NATed
// connection also links a reply node for its translated reply tuple. Free
// entries sit on lock-free LIFO stacks, one per processor (P, modulo 16):
// an insert reuses the entry a delete on the same core just freed while it
// is still in that core's cache, and two cores do not share a stack head.
// One word per 512 entries records whether any of them was ever allocated;
// the table walks (RangeFrom, so Range, Digest and a full sync's
// snapshot, and PromoteOwner) skip the blocks never used. The table also
// counts the entries other members own (ForeignLen), so that a member
// holding none of them can skip looking for them.
//
// Lookups take no lock and allocate nothing: every entry word is a
// sync/atomic value, a per-entry generation (odd while live) is read
// before and after the key compare, and a walk diverted by a concurrent
// removal ends on the wrong chain marker and restarts (see entry and find).
// An insert fills its free entry with plain stores, not atomic ones (a
// locked XCHG each on amd64), before the atomic generation increment that
// publishes the entry orders them before every lookup that can return it;
// under the race detector they are atomic too (initStore64).
// Inserts and removals take the mutex of the connection's home shard (and
// of its reply tuple's shard, in index order). Per-packet state changes
// take only the entry's own lock. The race detector sees no data race.
//
// A lookup costs two dependent cache misses at 1M entries (bucket, then
// entry). Consecutive lookups overlap in the processor only while nothing
// makes one wait for the previous one to retire: the per-key calls of the
// packet path and of connection churn (Lookup, Track, TrackKnown, Insert,
// InsertNAT, Delete) take a Key by value through small wrappers, inlined
// so that the key is read in place, and the key's words are filled
// through a pointer (kwords.fromKey): a 40-byte copy that the store
// buffer cannot forward serialised them (TestEntryPointsInline). Get (the
// control plane's) and MatchDNAT (only for packets from the outside of
// connections the table does not know) are plain calls.
// The engine works on receive batches, and so do LookupBatch and
// Prefetch: they load the bucket heads of a whole batch, then the entries,
// so the misses of different packets overlap. Call Prefetch(keys) before
// the per-packet Track calls of a batch.
//
// # Full table
//
// MaxEntries is a hard budget. When no entry is free, the default policy
// (FullEvictEmbryonic) evicts an expired or the earliest-expiring
// unanswered connection among a few scanned, else drops the new one; the
// FullDropNew policy always drops. Both are counted (Stats.Evicted,
// Stats.DropFull); Track returns DropFull, Insert ErrTableFull.
//
// # TCP
//
// The state machine is netfilter's transition table (NextTCPState) with
// its window checks, simplified. A direction whose window is unknown —
// a connection applied from a peer, promoted at failover, or picked up —
// learns it from its next packet, so a replicated connection accepts the
// sequence numbers it has moved on to since its last sync. Picking up a
// TCP connection from a packet other than a SYN is off unless
// Config.TCPPickup is set.
//
// # Aging
//
// No timer per entry: each entry holds its expiry time on the injected
// clock (internal/clock), Track refreshes it, and Sweep moves a clock hand
// over the table removing expired entries. Tests drive a clock.Manual.
// Track and Insert read the clock once per call: on the packet path use
// clock.Coarse (one atomic load), not clock.Real (a clock read).
//
// # NAT
//
// SNAT pools (addresses × port range) and DNAT rules (port forwarding to
// targets × port range) share one allocator: candidates start from a keyed
// hash of the connection (or the client's port with PreservePort) and the
// first whose reply tuple is not in the table wins, checked under the lock
// of the reply tuple's bucket, so mappings are collision-free. A mapping
// lives in its entry: it is released when the entry expires or is removed.
//
// # Sync
//
// Every change that matters for failover (new, state change, owner change,
// keepalive before a backup copy would expire, delete) bumps the entry's
// version and emits a fixed-size Record to Config.Records (in the engine, a
// ring.MPSC[Record]). A full ring is counted and the entry marked dirty;
// Sweep re-emits dirty entries. A backup feeds received records to Apply
// (a frame's at a time to ApplyBatch), which is idempotent and
// version-ordered; PromoteOwner turns a dead member's entries into ours;
// RangeFrom walks the table for a full sync while writers continue; Digest
// compares two tables.
package conntrack
