package ccp

import (
	"fmt"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// Sealer seals the frames one member sends in one boot epoch: it numbers
// them and encrypts and authenticates each in place under the current key
// of its Keyring. The 12-byte AES-GCM nonce is
//
//	sender member id (1) ‖ boot epoch (4) ‖ low 56 bits of Seq (7)
//
// so it never repeats under one key as long as member ids are unique in
// the cluster and a member never reuses an epoch (syncpath keeps epochs
// increasing across restarts): Seq only grows within an epoch, and Seal
// refuses to go past MaxSeq. Retransmissions are sealed again under a new
// Seq, never re-encrypted under an old one.
//
// A Sealer is not safe for concurrent use: it belongs to the sync worker.
type Sealer struct {
	keys    *Keyring
	cluster uint16
	sender  uint8
	epoch   uint32
	seq     uint64          // last Seq sealed
	nonce   [nonceSize]byte // scratch, kept here so Seal does not allocate
}

// NewSealer returns a Sealer for member sender of cluster in boot epoch
// epoch. Its first frame gets Seq 1.
func NewSealer(keys *Keyring, cluster uint16, sender uint8, epoch uint32) (*Sealer, error) {
	if cluster == 0 || sender == 0 {
		return nil, fmt.Errorf("new sealer for cluster %d member %d: %w", cluster, sender, ErrBadHeader)
	}
	return &Sealer{keys: keys, cluster: cluster, sender: sender, epoch: epoch}, nil
}

// Seq returns the sequence number of the last frame sealed (0: none yet).
func (s *Sealer) Seq() uint64 { return s.seq }

// SetSeq makes the next frame's Seq next (tests, and a sender resuming an
// epoch it has persisted). It must never move back within an epoch.
func (s *Sealer) SetSeq(next uint64) { s.seq = next - 1 }

// Seal seals a frame in place and returns it. frame holds a header (see
// AppendHeader: the caller sets Op, Flags, Target, Count, DataSeq and Ack)
// followed by the plaintext body; Seal fills in version, key id, cluster,
// sender, epoch, the next Seq and the length, encrypts the body with the
// header as associated data and appends the tag. It allocates nothing if
// cap(frame) >= len(frame)+TagSize.
func (s *Sealer) Seal(frame []byte) ([]byte, error) {
	if len(frame) < HeaderSize {
		return nil, ErrFrameSize
	}
	n := len(frame) - HeaderSize
	if n > MaxPayload {
		return nil, ErrFrameSize
	}
	if s.seq >= MaxSeq {
		return nil, ErrSeqExhausted
	}
	ks := s.keys.load()
	aead := ks.aead[ks.current]
	if aead == nil {
		return nil, ErrNoKey
	}
	s.seq++
	frame[offVersion] = Version
	frame[offKeyID] = ks.current
	be.PutUint16(frame[offMagic:], Magic)
	be.PutUint16(frame[offCluster:], s.cluster)
	frame[offSender] = s.sender
	be.PutUint16(frame[offLength:], uint16(n))
	be.PutUint32(frame[offEpoch:], s.epoch)
	be.PutUint64(frame[offSeq:], s.seq)
	putNonce(&s.nonce, s.sender, s.epoch, s.seq)
	return aead.Seal(frame[:HeaderSize], s.nonce[:], frame[HeaderSize:], frame[:HeaderSize]), nil
}

// putNonce writes sender ‖ epoch ‖ seq (low 56 bits) to n.
func putNonce(n *[nonceSize]byte, sender uint8, epoch uint32, seq uint64) {
	be.PutUint64(n[4:], seq)
	n[0] = sender
	be.PutUint32(n[1:], epoch)
}

// SealMessage encodes h and the body m into buf (from its start) and seals
// the frame. h's Op and Count are taken from m. For DELTA and
// FULLSYNC_CHUNK frames use a FrameWriter.
func (s *Sealer) SealMessage(buf []byte, h Header, m Body) ([]byte, error) {
	c := m.Count()
	if c > 0xffff {
		return nil, ErrFrameSize
	}
	h.Op, h.Count = m.Opcode(), uint16(c)
	b := AppendHeader(buf[:0], &h)
	b = m.Append(b)
	return s.Seal(b)
}

// FrameWriter packs connection records into DELTA or FULLSYNC_CHUNK frames
// in a caller-owned buffer, up to a maximum frame size (MaxFrameSize of the
// sync link's MTU), then seals the frame in place:
//
//	w.Begin(buf, ccp.Header{Op: ccp.OpDelta, Target: peer, DataSeq: n})
//	for ... { if ok, err := w.Add(&rec); !ok && err == nil { /* full: Seal, Begin, Add again */ } }
//	frame, err := w.Seal()
//
// Begin, Add and Seal allocate nothing. A FrameWriter is not safe for
// concurrent use.
type FrameWriter struct {
	s     *Sealer
	max   int
	buf   []byte
	prev  uint64 // version of the last record added
	n     int    // records added
	fixed int    // bytes of the body before the records
}

// NewFrameWriter returns a FrameWriter sealing with s frames of at most
// maxFrame bytes (clamped to Overhead+MaxPayload).
func NewFrameWriter(s *Sealer, maxFrame int) *FrameWriter {
	return &FrameWriter{s: s, max: min(maxFrame, Overhead+MaxPayload)}
}

// MaxFrame returns the frame size limit.
func (w *FrameWriter) MaxFrame() int { return w.max }

// Begin starts a frame in buf, which must have a capacity of at least
// MaxFrame bytes and stays in use until Seal. h.Op must be OpDelta or
// OpFullSyncChunk; Count is kept by the writer. A chunk's fixed part is
// written by SetChunk.
func (w *FrameWriter) Begin(buf []byte, h Header) error {
	if h.Op != OpDelta && h.Op != OpFullSyncChunk {
		return ErrOpcode
	}
	if cap(buf) < w.max || w.max < Overhead+FullSyncChunkSize {
		return ErrFrameSize
	}
	h.Count = 0
	w.buf = AppendHeader(buf[:0], &h)
	w.fixed = 0
	if h.Op == OpFullSyncChunk {
		w.fixed = FullSyncChunkSize
		w.buf = append(w.buf, make([]byte, FullSyncChunkSize)...)
	}
	w.prev, w.n = 0, 0
	return nil
}

// SetChunk writes the fixed part of a FULLSYNC_CHUNK frame (any time
// between Begin and Seal, typically once the chunk's cursor is known).
func (w *FrameWriter) SetChunk(c FullSyncChunk) {
	if w.fixed == FullSyncChunkSize && len(w.buf) >= HeaderSize+FullSyncChunkSize {
		c.put(w.buf[HeaderSize:])
	}
}

// Add appends r to the frame. It returns false and nil when r does not fit
// (the frame is full: Seal it and Add r to the next), false and ErrRecord
// when r cannot be encoded at all (see AppendRecord), and false and
// ErrFrameSize outside Begin…Seal.
func (w *FrameWriter) Add(r *conntrack.Record) (bool, error) {
	size := connSize(r, w.prev)
	if size == 0 {
		return false, ErrRecord
	}
	if len(w.buf) < HeaderSize {
		return false, ErrFrameSize // no Begin since the last Seal
	}
	if len(w.buf)+size+TagSize > w.max || w.n == 0xffff {
		return false, nil
	}
	w.buf, _ = AppendRecord(w.buf, r, w.prev)
	w.prev = r.Version
	w.n++
	return true, nil
}

// Records returns how many records the frame holds.
func (w *FrameWriter) Records() int { return w.n }

// Size returns the size the frame will have once sealed.
func (w *FrameWriter) Size() int { return len(w.buf) + TagSize }

// Seal sets the record count and seals the frame in place (Sealer.Seal),
// returning the datagram to send. The writer is then idle until Begin.
func (w *FrameWriter) Seal() ([]byte, error) {
	if len(w.buf) < HeaderSize {
		return nil, ErrFrameSize
	}
	be.PutUint16(w.buf[offCount:], uint16(w.n))
	f, err := w.s.Seal(w.buf)
	w.buf = nil
	return f, err
}
