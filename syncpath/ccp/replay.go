package ccp

// Replay window geometry: a ring of 64-bit blocks, as in wireguard-go's
// replay filter and RFC 6479, so moving the window forward clears whole
// blocks instead of shifting bits.
const (
	replayBlockBits  = 64
	replayRingBlocks = 16 // 1024-bit ring
	// ReplayWindow is how far behind the newest accepted Seq of a sender a
	// frame may be and still be accepted once.
	ReplayWindow = (replayRingBlocks - 1) * replayBlockBits // 960
)

// window is the replay state of one sender: its current boot epoch and
// which recent sequence numbers have been accepted.
type window struct {
	epoch uint32
	last  uint64 // highest Seq accepted in epoch; 0: none yet
	ring  [replayRingBlocks]uint64
}

// check reports whether (epoch, seq) may be accepted, without changing
// state: the frame is not yet authenticated.
func (w *window) check(epoch uint32, seq uint64) reason {
	switch {
	case epoch < w.epoch:
		return rStaleEpoch
	case epoch > w.epoch || seq > w.last:
		return rNone
	case w.last-seq > ReplayWindow:
		return rTooOld
	}
	if w.ring[seq/replayBlockBits%replayRingBlocks]&(1<<(seq%replayBlockBits)) != 0 {
		return rReplay
	}
	return rNone
}

// commit records an authenticated (epoch, seq) that check accepted. A newer
// epoch (the sender restarted) starts a fresh window.
func (w *window) commit(epoch uint32, seq uint64) {
	if epoch != w.epoch {
		*w = window{epoch: epoch}
	}
	if seq > w.last {
		cur, next := w.last/replayBlockBits, seq/replayBlockBits
		for i, n := cur+1, min(next-cur, replayRingBlocks); n > 0; i, n = i+1, n-1 {
			w.ring[i%replayRingBlocks] = 0
		}
		w.last = seq
	}
	w.ring[seq/replayBlockBits%replayRingBlocks] |= 1 << (seq % replayBlockBits)
}
