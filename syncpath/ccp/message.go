package ccp

// Body sizes. A fixed-size body may be longer than its size on receipt
// (a later revision appended fields): the tail is ignored. Shorter is
// ErrMalformed.
const (
	HeartbeatSize       = 24 // role, priority, status, reserved, conns u32, time u64, echo u64
	NackRangeSize       = 16 // first u64, last u64
	FullSyncRequestSize = 8  // reason, 3 reserved, session u32
	FullSyncChunkSize   = 12 // session u32, index u32, cursor u32; records follow
	FullSyncDoneSize    = 24 // session u32, chunks u32, records u64, digest u64
	RoleClaimSize       = 12 // action, priority, 2 reserved, term u64
)

// Body is a message body that Sealer.SealMessage can encode.
type Body interface {
	Opcode() Opcode
	Count() int             // the header's Count field for this body
	Append(b []byte) []byte // appends the body's encoding
}

// Frame is an opened frame: its header and its decrypted body, which
// aliases the datagram passed to Opener.Open.
type Frame struct {
	Header
	Body []byte
}

// Records returns a reader over the records of a DELTA or FULLSYNC_CHUNK
// frame, or ErrOpcode for other opcodes and ErrMalformed for a chunk too
// short for its fixed part.
func (f *Frame) Records() (RecordReader, error) {
	var rr RecordReader
	switch f.Op {
	case OpDelta:
		rr.Reset(f.Body, int(f.Count))
	case OpFullSyncChunk:
		if len(f.Body) < FullSyncChunkSize {
			return rr, ErrMalformed
		}
		rr.Reset(f.Body[FullSyncChunkSize:], int(f.Count))
	default:
		return rr, ErrOpcode
	}
	return rr, nil
}

// fixedBody checks f's opcode and returns its body if it holds at least
// size bytes.
func fixedBody(f *Frame, op Opcode, size int) ([]byte, error) {
	if f.Op != op {
		return nil, ErrOpcode
	}
	if len(f.Body) < size {
		return nil, ErrMalformed
	}
	return f.Body, nil
}

// Role is a member's role as a heartbeat announces it.
type Role uint8

// Roles.
const (
	RoleNone   Role = 0 // starting, or not part of the cluster's forwarding
	RoleActive Role = 1 // holds the virtual addresses and forwards
	RoleBackup Role = 2 // standby, receives state
	RoleDown   Role = 3 // administratively down or failed a health check
	numRoles        = 4
)

func (r Role) String() string {
	if r < numRoles {
		return [numRoles]string{"none", "active", "backup", "down"}[r]
	}
	return "unknown"
}

// Heartbeat status bits.
const (
	StatusReady  = 1 << 0 // interfaces up and workers running: able to forward
	StatusSynced = 1 << 1 // holds a complete copy of the target's state (full sync done)
)

// Heartbeat is the body of OpHeartbeat: liveness plus what a peer needs to
// choose the active member and to know whether it may fail over to us.
type Heartbeat struct {
	Role     Role
	Priority uint8  // 0..255, higher is preferred as active
	Status   uint8  // StatusReady | StatusSynced
	Conns    uint32 // connections in the sender's table
	Time     uint64 // sender's monotonic clock, nanoseconds
	Echo     uint64 // the Time of the last heartbeat received from the target (0: none), for round-trip time
}

func (*Heartbeat) Opcode() Opcode { return OpHeartbeat }
func (*Heartbeat) Count() int     { return 0 }

// Append appends the HeartbeatSize bytes of m.
func (m *Heartbeat) Append(b []byte) []byte {
	b = append(b, uint8(m.Role), m.Priority, m.Status, 0)
	b = be.AppendUint32(b, m.Conns)
	b = be.AppendUint64(b, m.Time)
	return be.AppendUint64(b, m.Echo)
}

// Decode reads m from a heartbeat frame.
func (m *Heartbeat) Decode(f *Frame) error {
	b, err := fixedBody(f, OpHeartbeat, HeartbeatSize)
	if err != nil {
		return err
	}
	*m = Heartbeat{Role: Role(b[0]), Priority: b[1], Status: b[2],
		Conns: be.Uint32(b[4:]), Time: be.Uint64(b[8:]), Echo: be.Uint64(b[16:])}
	return nil
}

// NackRange is an inclusive range of DataSeq numbers the receiver misses.
type NackRange struct {
	First, Last uint64
}

// MaxNackRanges is how many nack ranges one ACK frame at MTU 1500 holds.
const MaxNackRanges = (1500 - ipv6UDPHeader - Overhead) / NackRangeSize

// Ack is the body of OpAck. The cumulative ack is the header's Ack field
// (with FlagAck); the body lists the DataSeq ranges above it that are
// missing, ascending and disjoint, so the sender retransmits only those.
type Ack struct {
	Ranges []NackRange
}

func (*Ack) Opcode() Opcode { return OpAck }
func (m *Ack) Count() int   { return len(m.Ranges) }

// Append appends NackRangeSize bytes per range.
func (m *Ack) Append(b []byte) []byte {
	for _, r := range m.Ranges {
		b = be.AppendUint64(b, r.First)
		b = be.AppendUint64(b, r.Last)
	}
	return b
}

// Decode reads the ranges of an ack frame into m.Ranges, reusing its
// capacity (it allocates only if Count exceeds it). Ranges must be
// ascending, disjoint and have First <= Last, and the body exactly Count
// ranges long.
func (m *Ack) Decode(f *Frame) error {
	if f.Op != OpAck {
		return ErrOpcode
	}
	n := int(f.Count)
	if len(f.Body) != n*NackRangeSize {
		return ErrMalformed
	}
	m.Ranges = m.Ranges[:0]
	for i := 0; i < n; i++ {
		b := f.Body[i*NackRangeSize:]
		r := NackRange{First: be.Uint64(b), Last: be.Uint64(b[8:])}
		if r.First > r.Last || (i > 0 && r.First <= m.Ranges[i-1].Last) {
			m.Ranges = m.Ranges[:0]
			return ErrMalformed
		}
		m.Ranges = append(m.Ranges, r)
	}
	return nil
}

// SyncReason says why a member asks for a full sync.
type SyncReason uint8

// Full-sync reasons.
const (
	ReasonBoot     SyncReason = 1 // the requester (re)started: it has no state
	ReasonWindow   SyncReason = 2 // it fell out of the sender's retransmit window
	ReasonEpoch    SyncReason = 3 // the sender restarted (new boot epoch)
	ReasonDigest   SyncReason = 4 // digests disagreed after a full sync
	ReasonOperator SyncReason = 5 // asked for by an operator (tandemctl)
)

// FullSyncRequest is the body of OpFullSyncRequest.
type FullSyncRequest struct {
	Reason  SyncReason
	Session uint32 // chosen by the requester; chunks and done echo it, telling streams apart
}

func (*FullSyncRequest) Opcode() Opcode { return OpFullSyncRequest }
func (*FullSyncRequest) Count() int     { return 0 }

// Append appends the FullSyncRequestSize bytes of m.
func (m *FullSyncRequest) Append(b []byte) []byte {
	b = append(b, uint8(m.Reason), 0, 0, 0)
	return be.AppendUint32(b, m.Session)
}

// Decode reads m from a full-sync request frame.
func (m *FullSyncRequest) Decode(f *Frame) error {
	b, err := fixedBody(f, OpFullSyncRequest, FullSyncRequestSize)
	if err != nil {
		return err
	}
	*m = FullSyncRequest{Reason: SyncReason(b[0]), Session: be.Uint32(b[4:])}
	return nil
}

// FullSyncChunk is the fixed part of an OpFullSyncChunk body; the records
// of the chunk follow it (Frame.Records). FrameWriter writes it.
type FullSyncChunk struct {
	Session uint32 // the request's session
	Index   uint32 // chunk number in the stream, from 0
	Cursor  uint32 // table cursor after this chunk (conntrack.Table.RangeFrom)
}

// put writes the FullSyncChunkSize bytes of m to b.
func (m *FullSyncChunk) put(b []byte) {
	_ = b[FullSyncChunkSize-1]
	be.PutUint32(b, m.Session)
	be.PutUint32(b[4:], m.Index)
	be.PutUint32(b[8:], m.Cursor)
}

// Decode reads the fixed part of a chunk frame.
func (m *FullSyncChunk) Decode(f *Frame) error {
	b, err := fixedBody(f, OpFullSyncChunk, FullSyncChunkSize)
	if err != nil {
		return err
	}
	*m = FullSyncChunk{Session: be.Uint32(b), Index: be.Uint32(b[4:]), Cursor: be.Uint32(b[8:])}
	return nil
}

// FullSyncDone is the body of OpFullSyncDone: the end of a snapshot stream
// and what the backup checks its copy against.
type FullSyncDone struct {
	Session uint32
	Chunks  uint32 // chunks sent in this session
	Records uint64 // records sent in those chunks
	Digest  uint64 // the sender's conntrack.Table.Digest when the stream ended
}

func (*FullSyncDone) Opcode() Opcode { return OpFullSyncDone }
func (*FullSyncDone) Count() int     { return 0 }

// Append appends the FullSyncDoneSize bytes of m.
func (m *FullSyncDone) Append(b []byte) []byte {
	b = be.AppendUint32(b, m.Session)
	b = be.AppendUint32(b, m.Chunks)
	b = be.AppendUint64(b, m.Records)
	return be.AppendUint64(b, m.Digest)
}

// Decode reads m from a full-sync done frame.
func (m *FullSyncDone) Decode(f *Frame) error {
	b, err := fixedBody(f, OpFullSyncDone, FullSyncDoneSize)
	if err != nil {
		return err
	}
	*m = FullSyncDone{Session: be.Uint32(b), Chunks: be.Uint32(b[4:]),
		Records: be.Uint64(b[8:]), Digest: be.Uint64(b[16:])}
	return nil
}

// RoleAction is what a ROLE message does.
type RoleAction uint8

// Role actions.
const (
	RoleClaimActive   RoleAction = 1 // the sender takes the active role (failover or preemption)
	RoleReleaseActive RoleAction = 2 // the sender gives it up (shutdown, lower priority, lost health)
)

// RoleClaim is the body of OpRole.
type RoleClaim struct {
	Action   RoleAction
	Priority uint8
	Term     uint64 // role epoch: raised by every claim, so a stale claim loses to a newer one
}

func (*RoleClaim) Opcode() Opcode { return OpRole }
func (*RoleClaim) Count() int     { return 0 }

// Append appends the RoleClaimSize bytes of m.
func (m *RoleClaim) Append(b []byte) []byte {
	b = append(b, uint8(m.Action), m.Priority, 0, 0)
	return be.AppendUint64(b, m.Term)
}

// Decode reads m from a role frame.
func (m *RoleClaim) Decode(f *Frame) error {
	b, err := fixedBody(f, OpRole, RoleClaimSize)
	if err != nil {
		return err
	}
	*m = RoleClaim{Action: RoleAction(b[0]), Priority: b[1], Term: be.Uint64(b[4:])}
	return nil
}
