// Package ccp is the wire format of CCP, Tandem's cluster control protocol:
// the bytes of every frame the sync path sends over UDP port 8116, and
// their authentication. The specification is docs/ccp.md; this package
// and that document change together.
//
// It owns:
//
//   - the fixed frame header (Header, HeaderSize) and the opcodes;
//   - the message bodies (Heartbeat, Ack, FullSyncRequest, FullSyncChunk,
//     FullSyncDone, RoleClaim) and the compact encoding of
//     conntrack.Record deltas (AppendRecord, RecordReader);
//   - sealing: FrameWriter packs records into a caller-owned buffer up to
//     the sync link's frame size, Sealer encrypts and authenticates a frame
//     in place with AES-GCM under the current key of a Keyring;
//   - opening: Opener checks a received datagram (exact lengths, cluster,
//     key id, tag) and rejects replays with a per-sender sliding window,
//     counting every rejection by reason (Counters) and returning a
//     sentinel error (ErrTruncated, ErrAuth, ErrReplay, ...);
//   - the key file format and key rotation (Keyring, LoadKeyFile).
//
// It does not own sessions, reliability (which DataSeq to ack or
// retransmit, nack generation), heartbeat timing, full-sync scheduling,
// bandwidth limits or transports (AF_XDP or kernel UDP sockets): those
// belong to package syncpath. Nothing here reads a clock or does I/O,
// except LoadKeyFile.
//
// # Allocation and concurrency
//
// Encoding a DELTA frame (FrameWriter), sealing it, opening a frame and
// decoding its records allocate nothing (see alloc_test.go). A Sealer, a
// FrameWriter and an Opener each belong to one goroutine (the sync worker)
// and are not safe for concurrent use; Opener.Counters and every Keyring
// method are safe to call from any goroutine, so the control plane can
// read counters and rotate keys while frames flow.
package ccp
