// Package ha is the role machine of a Tandem HA pair: from what a member
// hears of its peer (heartbeats on the sync link and on the data links,
// ROLE messages), it decides which member is active, that is, holds the
// virtual and SNAT addresses and forwards. It does no I/O: tandemd feeds
// it the peer's state each sync-worker round and carries out the
// transitions it returns (promote the peer's connections, claim or release
// the addresses, announce the new role).
//
// The rules (docs/ha.md has them with their reasons):
//
//   - The peer is alive while a heartbeat arrived within DeadAfter on the
//     sync link or on a data link. It is dead only when both fall silent:
//     a silent sync link with a live data link is a sync-link failure, not
//     a dead peer, and the backup does not take over (no split brain).
//   - One active at a time. When both are active (a healed partition),
//     the lower-ranked one releases: higher priority wins, then the lower
//     member id.
//   - A starting member becomes backup if the peer is active; active if
//     nobody else is (after StartupWait without a live active peer, or at
//     once if it outranks a live, non-active peer).
//   - A backup takes over when the peer dies, or when the active hands
//     over (a planned failover, a RELEASE message).
//   - A returning member stays backup unless Preempt is set, it outranks
//     the active and it has finished its full sync (StatusSynced).
//   - The active hands over (planned failover, preemption) only to a peer
//     that is alive on the sync link and synced.
package ha
