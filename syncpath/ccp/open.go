package ccp

import "sync/atomic"

// reason is why Open refused a frame (rNone: it did not); it indexes the
// counters and reasonErr.
type reason uint8

const (
	rNone reason = iota
	rTruncated
	rLength
	rBadMagic
	rVersion
	rBadHeader
	rClusterMismatch
	rReflected
	rNotForUs
	rUnknownKey
	rAuth
	rStaleEpoch
	rTooOld
	rReplay
	rUnknownOpcode
	numReasons
)

var reasonErr = [numReasons]error{
	rTruncated:       ErrTruncated,
	rLength:          ErrLength,
	rBadMagic:        ErrBadMagic,
	rVersion:         ErrVersion,
	rBadHeader:       ErrBadHeader,
	rClusterMismatch: ErrClusterMismatch,
	rReflected:       ErrReflected,
	rNotForUs:        ErrNotForUs,
	rUnknownKey:      ErrUnknownKey,
	rAuth:            ErrAuth,
	rStaleEpoch:      ErrStaleEpoch,
	rTooOld:          ErrTooOld,
	rReplay:          ErrReplay,
	rUnknownOpcode:   ErrUnknownOpcode,
}

// Counters is a snapshot of an Opener's counts: frames accepted, and frames
// rejected by reason (each field named like its error, ErrX → X).
type Counters struct {
	Opened          uint64 // authenticated and accepted
	Truncated       uint64 // shorter than the header, or than header + length + tag
	Length          uint64 // longer than header + length + tag
	BadMagic        uint64 // not a CCP frame
	Version         uint64 // another protocol version
	BadHeader       uint64 // sender 0, Seq 0 or above MaxSeq, key id 0
	ClusterMismatch uint64 // another cluster id
	Reflected       uint64 // our own member id as sender: a frame of ours looped back
	NotForUs        uint64 // addressed to another member
	UnknownKey      uint64 // key id not in the ring
	Auth            uint64 // tag did not verify: forged, modified or truncated in a way lengths cannot tell
	StaleEpoch      uint64 // from an earlier boot epoch of its sender
	TooOld          uint64 // Seq more than ReplayWindow behind the newest accepted
	Replay          uint64 // Seq already accepted
	UnknownOpcode   uint64 // authenticated, but an opcode this version does not know
}

// Rejected returns the sum of all rejection counts.
func (c *Counters) Rejected() uint64 {
	return c.Truncated + c.Length + c.BadMagic + c.Version + c.BadHeader + c.ClusterMismatch +
		c.Reflected + c.NotForUs + c.UnknownKey + c.Auth + c.StaleEpoch + c.TooOld + c.Replay + c.UnknownOpcode
}

// Opener checks, authenticates and decrypts the frames a member receives.
// Every check reads only bytes whose presence it has just verified; no
// input makes it panic. Replay state is kept per sender member (256 fixed
// slots indexed by member id, 36 KiB, no allocation): the sender's newest
// boot epoch and a ReplayWindow-wide bitmap of accepted sequence numbers,
// updated only after a frame authenticates, so forged frames cannot move
// it.
//
// An Opener is not safe for concurrent use (it belongs to the sync
// receiver); Counters may be called from any goroutine.
type Opener struct {
	keys    *Keyring
	cluster uint16
	self    uint8
	nonce   [nonceSize]byte
	peers   [256]window
	counts  [numReasons]atomic.Uint64 // rNone counts opened frames
}

// NewOpener returns an Opener for member self of cluster, accepting frames
// sealed with any key of keys.
func NewOpener(keys *Keyring, cluster uint16, self uint8) *Opener {
	return &Opener{keys: keys, cluster: cluster, self: self}
}

// Open checks frame (one received UDP payload), authenticates it and
// decrypts its body in place. It returns the frame, whose Body aliases
// frame, or one of the rejection errors (ErrTruncated, ErrLength,
// ErrBadMagic, ErrVersion, ErrBadHeader, ErrClusterMismatch, ErrReflected,
// ErrNotForUs, ErrUnknownKey, ErrAuth, ErrStaleEpoch, ErrTooOld, ErrReplay,
// ErrUnknownOpcode), counted in Counters. A rejected frame's bytes may have
// been overwritten. Open allocates nothing.
func (o *Opener) Open(frame []byte) (Frame, error) {
	var f Frame
	r := o.open(frame, &f)
	o.counts[r].Add(1)
	if r != rNone {
		return Frame{}, reasonErr[r]
	}
	return f, nil
}

func (o *Opener) open(b []byte, f *Frame) reason {
	if len(b) < HeaderSize {
		return rTruncated
	}
	if be.Uint16(b[offMagic:]) != Magic {
		return rBadMagic
	}
	h := &f.Header
	h.get(b)
	if h.Version != Version {
		return rVersion
	}
	end := HeaderSize + int(h.Length) + TagSize
	switch {
	case len(b) < end:
		return rTruncated
	case len(b) > end:
		return rLength
	case h.Sender == 0 || h.KeyID == 0 || h.Seq == 0 || h.Seq > MaxSeq:
		return rBadHeader
	case h.Cluster != o.cluster:
		return rClusterMismatch
	case h.Sender == o.self:
		return rReflected
	case h.Target != 0 && h.Target != o.self:
		return rNotForUs
	}
	aead := o.keys.load().aead[h.KeyID]
	if aead == nil {
		return rUnknownKey
	}
	w := &o.peers[h.Sender]
	if r := w.check(h.Epoch, h.Seq); r != rNone {
		return r
	}
	putNonce(&o.nonce, h.Sender, h.Epoch, h.Seq)
	body, err := aead.Open(b[HeaderSize:HeaderSize], o.nonce[:], b[HeaderSize:end], b[:HeaderSize])
	if err != nil {
		return rAuth
	}
	w.commit(h.Epoch, h.Seq)
	if !h.Op.Known() {
		return rUnknownOpcode
	}
	f.Body = body
	return rNone
}

// Counters returns a snapshot of the counts.
func (o *Opener) Counters() Counters {
	c := func(r reason) uint64 { return o.counts[r].Load() }
	return Counters{
		Opened: c(rNone), Truncated: c(rTruncated), Length: c(rLength), BadMagic: c(rBadMagic),
		Version: c(rVersion), BadHeader: c(rBadHeader), ClusterMismatch: c(rClusterMismatch),
		Reflected: c(rReflected), NotForUs: c(rNotForUs), UnknownKey: c(rUnknownKey), Auth: c(rAuth),
		StaleEpoch: c(rStaleEpoch), TooOld: c(rTooOld), Replay: c(rReplay), UnknownOpcode: c(rUnknownOpcode),
	}
}

// Forget drops the replay state of member (a peer removed from the
// configuration): its next frame starts a new window in any epoch.
func (o *Opener) Forget(member uint8) { o.peers[member] = window{} }
