package histogram

import "testing"

// TestSubIsTheWindow: a later snapshot less an earlier one holds what was
// recorded in between, and its quantiles are those of that stretch alone.
func TestSubIsTheWindow(t *testing.T) {
	var live, earlier, window Histogram
	for range 1000 {
		live.Record(1_000_000) // 1ms: before the window
	}
	earlier.Merge(&live)
	for i := range 100 {
		v := uint64(80_000_000) // 80ms: the window's lag
		if i < 50 {
			v = 10_000_000
		}
		live.Record(v)
	}
	window.Merge(&live)
	window.Sub(&earlier)
	if window.Count() != 100 {
		t.Fatalf("count %d, want 100", window.Count())
	}
	if p := window.Quantile(0.99); !near(p, 80_000_000) {
		t.Errorf("p99 %d, want about 80ms", p)
	}
	if p := window.Quantile(0.25); !near(p, 10_000_000) {
		t.Errorf("p25 %d, want about 10ms (the 1ms values are before the window)", p)
	}
	if window.Min() < 9_900_000 || window.Max() > 80_000_000 || window.Max() < 79_000_000 {
		t.Errorf("min %d max %d, want about 10ms and 80ms", window.Min(), window.Max())
	}
	if m := window.Mean(); m != 45_000_000 {
		t.Errorf("mean %v, want 45ms", m)
	}

	// Nothing in between: empty.
	var same Histogram
	same.Merge(&earlier)
	same.Sub(&earlier)
	if same.Count() != 0 || same.Quantile(0.99) != 0 || same.Max() != 0 {
		t.Errorf("same snapshot: count %d p99 %d max %d, want empty", same.Count(), same.Quantile(0.99), same.Max())
	}

	// Not an earlier snapshot: no bucket below zero.
	var small Histogram
	small.Record(1_000_000)
	small.Sub(&live)
	if small.Count() != 0 {
		t.Errorf("subtracting a larger histogram: count %d, want 0", small.Count())
	}
}

func near(got, want uint64) bool {
	d := float64(got) - float64(want)
	return d <= float64(want)*maxRelErr && -d <= float64(want)*maxRelErr
}
