package syncpath

import "sync/atomic"

// bucket is the token bucket of the sync link's bandwidth limit
// (sync_max_bandwidth): data frames (deltas, snapshot chunks and their
// retransmissions) spend tokens, one a byte; heartbeats, acks and
// requests do not, so liveness never waits behind bulk data. The rate may
// be changed at any time from any goroutine (SetBandwidth); the rest is
// the sync worker's.
type bucket struct {
	rate   atomic.Int64 // bytes per second; 0: unlimited
	tokens int64        // may go below 0 after a frame larger than what was left
	last   int64        // clock time of the last refill
	burst  int64
}

// refill adds the tokens earned since the last call, up to the burst:
// 10ms worth of the rate, at least two frames of maxFrame.
func (b *bucket) refill(now int64, maxFrame int) {
	rate := b.rate.Load()
	if rate <= 0 {
		b.last = now
		return
	}
	b.burst = max(rate/100, 2*int64(maxFrame))
	if el := now - b.last; el > 0 {
		b.tokens = min(b.tokens+el*rate/1e9, b.burst)
	}
	b.last = now
}

// ok reports whether a data frame may be sent now.
func (b *bucket) ok() bool { return b.rate.Load() <= 0 || b.tokens > 0 }

// spend takes n bytes' worth of tokens.
func (b *bucket) spend(n int) {
	if b.rate.Load() > 0 {
		b.tokens -= int64(n)
	}
}
