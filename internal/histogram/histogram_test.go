package histogram

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// maxRelErr is the bound promised by the package doc: half a bucket, and a
// bucket is at most 1/64 of its lower bound.
const maxRelErr = 1.0 / 128

func TestBucketIndexIsMonotoneAndContiguous(t *testing.T) {
	// Walk the first buckets value by value, then every bucket by its bounds.
	prev := -1
	for v := uint64(0); v < 1<<14; v++ {
		i := bucketIndex(v)
		if i != prev && i != prev+1 {
			t.Fatalf("bucketIndex(%d) = %d after %d: buckets must be contiguous", v, i, prev)
		}
		prev = i
	}
	for i := 0; i < numBuckets; i++ {
		lo, width := bucketBounds(i)
		hi := lo + (width - 1)
		if got := bucketIndex(lo); got != i {
			t.Fatalf("bucketIndex(lo=%d) = %d, want %d", lo, got, i)
		}
		if got := bucketIndex(hi); got != i {
			t.Fatalf("bucketIndex(hi=%d) = %d, want %d", hi, got, i)
		}
		if i+1 < numBuckets {
			if next, _ := bucketBounds(i + 1); next != hi+1 {
				t.Fatalf("bucket %d ends at %d but bucket %d starts at %d", i, hi, i+1, next)
			}
		} else if hi != math.MaxUint64 {
			t.Fatalf("last bucket ends at %d, want MaxUint64", hi)
		}
		if i >= subCount && float64(width) > float64(lo)/subCount {
			t.Fatalf("bucket %d: width %d is more than 1/%d of %d", i, width, subCount, lo)
		}
	}
}

// checkAgainstSorted compares h's quantiles with the exact ones of vals.
// The mean is checked only when checkMean is set (the sum of values drawn
// from the whole uint64 range overflows by design).
func checkAgainstSorted(t *testing.T, h *Histogram, vals []uint64, checkMean bool) {
	t.Helper()
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	n := uint64(len(sorted))
	if h.Count() != n {
		t.Fatalf("Count = %d, want %d", h.Count(), n)
	}
	if h.Min() != sorted[0] || h.Max() != sorted[n-1] {
		t.Fatalf("Min, Max = %d, %d, want %d, %d", h.Min(), h.Max(), sorted[0], sorted[n-1])
	}
	var sum float64
	for _, v := range sorted {
		sum += float64(v)
	}
	if want := sum / float64(n); checkMean && math.Abs(h.Mean()-want) > 1e-9*want {
		t.Fatalf("Mean = %g, want %g", h.Mean(), want)
	}
	for _, q := range []float64{0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1} {
		rank := max(uint64(math.Ceil(q*float64(n))), 1)
		want := sorted[rank-1]
		got := h.Quantile(q)
		if relErr := math.Abs(float64(got)-float64(want)) / float64(want); want == 0 && got != 0 || want != 0 && relErr > maxRelErr {
			t.Errorf("Quantile(%g) = %d, want %d (relative error %.4f > %.4f)", q, got, want, relErr, maxRelErr)
		}
	}
}

func TestQuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200_000
	dists := map[string]func() uint64{
		"small-exact":  func() uint64 { return rng.Uint64N(128) },
		"uniform-1us":  func() uint64 { return rng.Uint64N(1000) },
		"exponential":  func() uint64 { return uint64(rng.ExpFloat64() * 5000) },
		"lognormal":    func() uint64 { return uint64(math.Exp(rng.NormFloat64()*2 + 5)) },
		"up-to-1-hour": func() uint64 { return rng.Uint64N(uint64(time.Hour)) },
		"bimodal": func() uint64 {
			if rng.IntN(100) == 0 {
				return 1_000_000 + rng.Uint64N(1000)
			}
			return 40 + rng.Uint64N(20)
		},
		"full-range": func() uint64 { return rng.Uint64() >> rng.UintN(64) },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			h := new(Histogram)
			vals := make([]uint64, n)
			for i := range vals {
				vals[i] = gen()
				h.Record(vals[i])
			}
			checkAgainstSorted(t, h, vals, name != "full-range")
		})
	}
}

func TestEmptyAndExtremes(t *testing.T) {
	h := new(Histogram)
	if h.Count() != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 || h.Quantile(0.5) != 0 {
		t.Fatalf("empty histogram: Count %d Min %d Max %d Mean %g p50 %d, want all 0",
			h.Count(), h.Min(), h.Max(), h.Mean(), h.Quantile(0.5))
	}
	h.Record(math.MaxUint64)
	h.Record(0)
	if h.Min() != 0 || h.Max() != math.MaxUint64 {
		t.Fatalf("Min, Max = %d, %d, want 0, MaxUint64", h.Min(), h.Max())
	}
	if got := h.Quantile(1); got != math.MaxUint64 {
		t.Fatalf("Quantile(1) = %d, want MaxUint64", got)
	}
	for _, q := range []float64{-1, math.NaN(), 0} {
		if got := h.Quantile(q); got != 0 {
			t.Fatalf("Quantile(%g) = %d, want Min = 0", q, got)
		}
	}
	if got := h.Quantile(2); got != math.MaxUint64 {
		t.Fatalf("Quantile(2) = %d, want Max", got)
	}
	h.Reset()
	if h.Count() != 0 || h.Quantile(0.99) != 0 {
		t.Fatalf("after Reset: Count %d p99 %d, want 0", h.Count(), h.Quantile(0.99))
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b, all := new(Histogram), new(Histogram), new(Histogram)
	var vals []uint64
	for i := range 50_000 {
		v := uint64(rng.ExpFloat64() * 10_000)
		vals = append(vals, v)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(b)
	a.Merge(new(Histogram)) // merging an empty histogram changes nothing
	if a.counts != all.counts || a.count != all.count || a.sum != all.sum || a.min != all.min || a.max != all.max {
		t.Fatal("a.Merge(b) differs from recording every value in one histogram")
	}
	empty := new(Histogram)
	empty.Merge(all)
	checkAgainstSorted(t, empty, vals, true)
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := new(Histogram)
	v := uint64(1)
	if allocs := testing.AllocsPerRun(1000, func() {
		h.Record(v)
		v = v*3 + 1
	}); allocs != 0 {
		t.Fatalf("Record allocates %.1f times per call, want 0", allocs)
	}
}

func BenchmarkRecord(b *testing.B) {
	h := new(Histogram)
	v := uint64(12345)
	for b.Loop() {
		h.Record(v)
		v = v*2862933555777941757 + 3037000493 // LCG: varied buckets, no branch-friendly pattern
	}
}

func BenchmarkQuantile(b *testing.B) {
	h := new(Histogram)
	for i := range uint64(100_000) {
		h.Record(i * 997)
	}
	for b.Loop() {
		_ = h.Quantile(0.99)
	}
}
