package ccp

import (
	"encoding/binary"
	"errors"
)

// be is the byte order of every multi-byte field of CCP except varints.
var be = binary.BigEndian

// Frame sizes and limits.
const (
	Magic      = 0x5443 // "TC": the first two bytes of every frame
	Version    = 1      // the protocol version this package speaks
	HeaderSize = 42     // fixed header, authenticated as associated data
	TagSize    = 16     // AES-GCM authentication tag after the payload
	Overhead   = HeaderSize + TagSize

	MaxPayload = 0xffff // the header's length field is 16 bits
	// MaxSeq is the largest frame sequence number: the nonce holds its low
	// 56 bits (2^56 frames at 10 million a second last 228 years).
	MaxSeq = 1<<56 - 1

	UDPPort       = 8116 // CCP's UDP port on the sync link
	ipv4UDPHeader = 28   // IPv4 header without options + UDP header
	ipv6UDPHeader = 48   // IPv6 header + UDP header
	nonceSize     = 12   // AES-GCM standard nonce
)

// Header byte offsets (see the header table in docs/ccp.md).
const (
	offMagic   = 0  // 2 bytes
	offVersion = 2  // 1
	offOp      = 3  // 1
	offFlags   = 4  // 1
	offKeyID   = 5  // 1
	offCluster = 6  // 2
	offSender  = 8  // 1
	offTarget  = 9  // 1
	offCount   = 10 // 2
	offLength  = 12 // 2
	offEpoch   = 14 // 4
	offSeq     = 18 // 8
	offDataSeq = 26 // 8
	offAck     = 34 // 8
)

// MaxFrameSize returns the largest CCP frame (one UDP payload) on a sync
// link of the given MTU: 1472 at MTU 1500 and 8972 at 9000 over IPv4,
// 20 bytes less over IPv6. It returns 0 if mtu leaves no room for a frame.
func MaxFrameSize(mtu int, ipv6 bool) int {
	n := mtu - ipv4UDPHeader
	if ipv6 {
		n = mtu - ipv6UDPHeader
	}
	n = min(n, Overhead+MaxPayload)
	if n < Overhead {
		return 0
	}
	return n
}

// Opcode says what a frame's body is.
type Opcode uint8

// Opcodes. Values not listed are rejected by Opener (ErrUnknownOpcode).
const (
	OpHeartbeat       Opcode = 1 // liveness, role and readiness (Heartbeat)
	OpDelta           Opcode = 2 // connection records (RecordReader)
	OpAck             Opcode = 3 // cumulative ack in the header, nack ranges in the body (Ack)
	OpFullSyncRequest Opcode = 4 // a backup asks for a snapshot (FullSyncRequest)
	OpFullSyncChunk   Opcode = 5 // one chunk of a snapshot: cursor + records (FullSyncChunk)
	OpFullSyncDone    Opcode = 6 // end of a snapshot: counts and digest (FullSyncDone)
	OpRole            Opcode = 7 // claim or release the active role (RoleClaim)
	numOpcodes               = 8
)

var opNames = [numOpcodes]string{"invalid", "heartbeat", "delta", "ack",
	"fullsync-request", "fullsync-chunk", "fullsync-done", "role"}

func (o Opcode) String() string {
	if o < numOpcodes {
		return opNames[o]
	}
	return "unknown"
}

// Known reports whether o is an opcode of this version.
func (o Opcode) Known() bool { return o >= OpHeartbeat && o < numOpcodes }

// Header flags.
const (
	FlagAck        = 1 << 0 // the Ack field is valid
	FlagRetransmit = 1 << 1 // the body was sent before under this DataSeq
)

// Header is the fixed part of a frame. On the wire it is HeaderSize bytes,
// big-endian, in this order after the 2-byte magic; see docs/ccp.md.
type Header struct {
	Version uint8  // Version
	Op      Opcode // what the body is
	Flags   uint8  // FlagAck | FlagRetransmit; other bits are sent as 0 and ignored
	KeyID   uint8  // the key that sealed the frame, 1..255
	Cluster uint16 // cluster id, 1..65535
	Sender  uint8  // sender's member id, 1..255
	Target  uint8  // receiver's member id, or 0 for every member
	Count   uint16 // records (DELTA, FULLSYNC_CHUNK) or nack ranges (ACK); 0 otherwise
	Length  uint16 // payload bytes between the header and the tag
	Epoch   uint32 // sender's boot epoch: never repeats for one member under one key
	Seq     uint64 // frame sequence, 1..MaxSeq, +1 for every frame the sender seals
	DataSeq uint64 // reliable-stream sequence of DELTA and FULLSYNC_* bodies, else 0
	Ack     uint64 // cumulative ack of the target's DataSeq stream (with FlagAck)
}

// put writes h (and the magic) into b[:HeaderSize].
// Precondition: len(b) >= HeaderSize.
func (h *Header) put(b []byte) {
	_ = b[HeaderSize-1]
	be.PutUint16(b[offMagic:], Magic)
	b[offVersion] = h.Version
	b[offOp] = uint8(h.Op)
	b[offFlags] = h.Flags
	b[offKeyID] = h.KeyID
	be.PutUint16(b[offCluster:], h.Cluster)
	b[offSender] = h.Sender
	b[offTarget] = h.Target
	be.PutUint16(b[offCount:], h.Count)
	be.PutUint16(b[offLength:], h.Length)
	be.PutUint32(b[offEpoch:], h.Epoch)
	be.PutUint64(b[offSeq:], h.Seq)
	be.PutUint64(b[offDataSeq:], h.DataSeq)
	be.PutUint64(b[offAck:], h.Ack)
}

// get reads h from b[:HeaderSize] (the magic is checked by the caller).
// Precondition: len(b) >= HeaderSize.
func (h *Header) get(b []byte) {
	_ = b[HeaderSize-1]
	h.Version = b[offVersion]
	h.Op = Opcode(b[offOp])
	h.Flags = b[offFlags]
	h.KeyID = b[offKeyID]
	h.Cluster = be.Uint16(b[offCluster:])
	h.Sender = b[offSender]
	h.Target = b[offTarget]
	h.Count = be.Uint16(b[offCount:])
	h.Length = be.Uint16(b[offLength:])
	h.Epoch = be.Uint32(b[offEpoch:])
	h.Seq = be.Uint64(b[offSeq:])
	h.DataSeq = be.Uint64(b[offDataSeq:])
	h.Ack = be.Uint64(b[offAck:])
}

// AppendHeader appends the HeaderSize bytes of h to b. Sealer.Seal fills in
// the fields it owns (version, key id, cluster, sender, epoch, sequence,
// length), so a caller sets only Op, Flags, Target, Count, DataSeq and Ack.
func AppendHeader(b []byte, h *Header) []byte {
	n := len(b)
	b = append(b, make([]byte, HeaderSize)...)
	h.put(b[n:])
	return b
}

// ParseHeader reads the header of frame, checking its length, magic and
// version only. It is for tools (dissectors, tests); a receiver uses
// Opener.Open, which also authenticates.
func ParseHeader(frame []byte) (Header, error) {
	var h Header
	if len(frame) < HeaderSize {
		return h, ErrTruncated
	}
	if be.Uint16(frame[offMagic:]) != Magic {
		return h, ErrBadMagic
	}
	h.get(frame)
	if h.Version != Version {
		return h, ErrVersion
	}
	return h, nil
}

// Errors. Opener.Open returns one of the rejection errors for every frame
// it refuses and counts it in the field of Counters with the same name.
var (
	ErrTruncated       = errors.New("ccp: frame truncated")
	ErrLength          = errors.New("ccp: datagram longer than the frame's length field says")
	ErrBadMagic        = errors.New("ccp: bad magic")
	ErrVersion         = errors.New("ccp: unsupported protocol version")
	ErrBadHeader       = errors.New("ccp: invalid header field")
	ErrClusterMismatch = errors.New("ccp: frame of another cluster")
	ErrReflected       = errors.New("ccp: frame carries our own member id")
	ErrNotForUs        = errors.New("ccp: frame addressed to another member")
	ErrUnknownKey      = errors.New("ccp: unknown key id")
	ErrAuth            = errors.New("ccp: authentication failed")
	ErrStaleEpoch      = errors.New("ccp: frame from an earlier boot epoch of its sender")
	ErrTooOld          = errors.New("ccp: frame sequence older than the replay window")
	ErrReplay          = errors.New("ccp: replayed frame")
	ErrUnknownOpcode   = errors.New("ccp: unknown opcode")

	// Body and record errors (decoders and encoders; not counted by Opener).
	ErrMalformed = errors.New("ccp: malformed body")
	ErrRecord    = errors.New("ccp: record cannot be encoded")
	ErrOpcode    = errors.New("ccp: body decoded with the wrong opcode")

	// Sender errors.
	ErrNoKey        = errors.New("ccp: no current key")
	ErrSeqExhausted = errors.New("ccp: frame sequence exhausted, start a new epoch")
	ErrFrameSize    = errors.New("ccp: buffer too small for a frame")
)
