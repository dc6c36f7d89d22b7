package histogram

import (
	"math"
	"math/bits"
)

const (
	// subBits is log2 of the number of linear buckets per power of two.
	// 6 gives 64 buckets per octave: a bucket spans at most 1/64 of its lower
	// bound, and reporting its midpoint halves that to 1/128.
	subBits  = 6
	subCount = 1 << subBits // 64
	// numBuckets covers every uint64: values below subCount have a bucket of
	// their own (exponent group 0), then one group of subCount buckets for each
	// exponent from subBits to 63.
	numBuckets = (64 - subBits + 1) << subBits // 3776 buckets, 30,208 bytes of counts
)

// Histogram is a log-linear histogram of uint64 values. The zero value is an
// empty histogram ready for use; it holds no pointers and never allocates.
//
// A Histogram is not safe for concurrent use. It is meant to have a single
// writer (the goroutine that calls Record); reading it (Quantile, Max, ...) or
// merging it into another must happen after synchronizing with that writer,
// for instance once the writer has stopped, or through the caller's own lock.
// For figures from several goroutines, give each its own Histogram and Merge
// them at the end.
//
// A Histogram is about 30 KB: pass it by pointer (go vet's copylocks check
// reports copies).
type Histogram struct {
	_      noCopy
	count  uint64
	sum    uint64 // wraps after 584 years of nanoseconds; Mean says so
	min    uint64
	max    uint64
	counts [numBuckets]uint64
}

// noCopy makes go vet's copylocks check report copies of a Histogram.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// bucketIndex maps v to its bucket. Values below subCount map to themselves;
// above, the top subBits+1 significant bits of v select the bucket within the
// group of v's exponent.
func bucketIndex(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBits // >= 0
	return (shift+1)<<subBits + int(v>>uint(shift)) - subCount
}

// bucketBounds returns the smallest value of bucket i and its width.
func bucketBounds(i int) (lo, width uint64) {
	if i < subCount {
		return uint64(i), 1
	}
	shift := i>>subBits - 1
	mantissa := uint64(i&(subCount-1) + subCount)
	return mantissa << uint(shift), 1 << uint(shift)
}

// Record adds one value (by convention, nanoseconds).
func (h *Histogram) Record(v uint64) {
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
	h.counts[bucketIndex(v)]++
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.count }

// Min returns the smallest recorded value, exactly, or 0 if h is empty.
func (h *Histogram) Min() uint64 { return h.min }

// Max returns the largest recorded value, exactly, or 0 if h is empty.
func (h *Histogram) Max() uint64 { return h.max }

// Mean returns the arithmetic mean of the recorded values, exactly unless their
// sum exceeded 2^64 (584 years in nanoseconds), or 0 if h is empty.
func (h *Histogram) Mean() float64 {
	if h.count == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.count)
}

// Quantile returns an estimate of the value at quantile q (0.5 for the median,
// 0.99 for p99, 0.999 for p99.9): the value of rank ceil(q*Count()) in sorted
// order, within 1/128 of it, and never outside [Min, Max]. Quantile(0) is Min
// and Quantile(1) is Max, exactly. An empty histogram returns 0; q outside
// [0, 1], or NaN, is clamped to that range (NaN to 0).
func (h *Histogram) Quantile(q float64) uint64 {
	if h.count == 0 {
		return 0
	}
	if !(q > 0) { // also catches NaN
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = max(rank, 1)
	rank = min(rank, h.count)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i]
		if seen >= rank {
			lo, width := bucketBounds(i)
			mid := lo + (width-1)/2
			return min(max(mid, h.min), h.max)
		}
	}
	return h.max // unreachable while counts sum to count
}

// Merge adds every value recorded in o to h; o is not modified (unless it is
// h, whose counts then double).
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.count += o.count
	h.sum += o.sum
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	*h = Histogram{}
}
