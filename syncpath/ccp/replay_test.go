package ccp

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// accept runs check and, if it passes, commit, as Open does for an
// authenticated frame.
func (w *window) accept(epoch uint32, seq uint64) reason {
	r := w.check(epoch, seq)
	if r == rNone {
		w.commit(epoch, seq)
	}
	return r
}

// TestReplayWindowEdges: duplicates, the window's exact edge, ring wrap and
// jumps longer than the ring.
func TestReplayWindowEdges(t *testing.T) {
	var w window
	steps := []struct {
		seq  uint64
		want reason
	}{
		{1, rNone}, {1, rReplay}, {3, rNone}, {2, rNone}, {2, rReplay}, {3, rReplay},
		{1000, rNone},
		{1000 - ReplayWindow, rNone},       // exactly at the edge: still inside
		{1000 - ReplayWindow - 1, rTooOld}, // one past it
		{1000 - ReplayWindow, rReplay},
		{999, rNone}, {999, rReplay},
		{1000 + 64*replayRingBlocks*3 + 5, rNone}, // jump over the whole ring, three times round
		{1000, rTooOld},
		{1000 + 64*replayRingBlocks*3 + 4, rNone},
		{1000 + 64*replayRingBlocks*3 + 5, rReplay},
		{1000 + 64*replayRingBlocks*3 + 5 - ReplayWindow, rNone},
		{MaxSeq, rNone}, {MaxSeq, rReplay}, {MaxSeq - 1, rNone}, {MaxSeq - ReplayWindow - 1, rTooOld},
	}
	for i, st := range steps {
		if got := w.accept(testEpoch, st.seq); got != st.want {
			t.Fatalf("step %d: seq %d: %v, want %v", i, st.seq, reasonErr[got], reasonErr[st.want])
		}
	}
	// A new epoch starts over; the old one is stale from then on.
	if got := w.accept(testEpoch+1, 1); got != rNone {
		t.Fatalf("new epoch: %v", reasonErr[got])
	}
	if got := w.accept(testEpoch, MaxSeq); got != rStaleEpoch {
		t.Fatalf("old epoch: %v", reasonErr[got])
	}
}

// TestReplayWindowModel compares the window with a model (a set of seen
// sequence numbers and the newest one) on random streams with reordering,
// duplicates and jumps, across many turns of the ring.
func TestReplayWindowModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for run := 0; run < 20; run++ {
		var w window
		seen := map[uint64]bool{}
		var last uint64
		next := uint64(1)
		for i := 0; i < 20000; i++ {
			var seq uint64
			switch rng.IntN(10) {
			case 0: // an old one, maybe already seen
				seq = back(next, rng.IntN(2*ReplayWindow))
			case 1: // a jump
				next += uint64(rng.IntN(3000))
				seq = next
			default: // mostly in order with a little reordering
				next++
				seq = back(next, rng.IntN(8))
			}
			want := rNone
			switch {
			case seq+ReplayWindow < last:
				want = rTooOld
			case seen[seq]:
				want = rReplay
			}
			got := w.accept(testEpoch, seq)
			if got != want {
				t.Fatalf("run %d step %d seq %d (last %d): %v, want %v", run, i, seq, last, reasonErr[got], reasonErr[want])
			}
			if got == rNone {
				seen[seq] = true
				last = max(last, seq)
			}
		}
	}
}

// TestReplayThroughOpener: frames delivered out of order inside the window
// are all accepted once, duplicates and frames behind the window are not.
func TestReplayThroughOpener(t *testing.T) {
	s, o, _ := pair(t)
	frames := make([][]byte, 3000)
	for i := range frames {
		frames[i] = heartbeatFrame(t, s)
	}
	// Deliver in blocks of 100, each block reversed, each frame twice.
	for b := 0; b < len(frames); b += 100 {
		for i := b + 99; i >= b; i-- {
			dup := append([]byte(nil), frames[i]...)
			if _, err := o.Open(frames[i]); err != nil {
				t.Fatalf("frame %d: %v", i+1, err)
			}
			if _, err := o.Open(dup); err == nil {
				t.Fatalf("frame %d accepted twice", i+1)
			}
		}
	}
	s.SetSeq(2 * uint64(len(frames)))
	if _, err := o.Open(heartbeatFrame(t, s)); err != nil {
		t.Fatal(err)
	}
	s.SetSeq(2*uint64(len(frames)) - ReplayWindow - 1)
	if _, err := o.Open(heartbeatFrame(t, s)); !errors.Is(err, ErrTooOld) {
		t.Fatalf("behind the window: %v", err)
	}
	c := o.Counters()
	if c.Opened != uint64(len(frames))+1 || c.Replay != uint64(len(frames)) || c.TooOld != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// back returns seq - k, at least 1.
func back(seq uint64, k int) uint64 {
	if uint64(k) >= seq {
		return 1
	}
	return seq - uint64(k)
}
