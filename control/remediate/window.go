package remediate

import (
	"time"

	"github.com/tandem-gw/tandem/internal/histogram"
)

// LagWindow turns the cumulative lag histogram a sync session keeps
// (syncpath.Session.LagSnapshot) into the lag of the last Span or so: it
// keeps two earlier snapshots, taken Span/2 apart, and subtracts the older
// one from the current, so the window is Span/2 to Span long. It holds
// four histograms (about 120 KB) and allocates nothing after the first
// Observe. Not safe for concurrent use.
type LagWindow struct {
	Span time.Duration // default 1s

	old, mid, diff histogram.Histogram
	midAt          int64
	started        bool
}

// Observe takes the cumulative histogram at now and returns the p99 of
// the lags recorded in the window and how many there were.
func (w *LagWindow) Observe(now int64, cum *histogram.Histogram) (p99 time.Duration, frames uint64) {
	span := int64(w.Span)
	if span <= 0 {
		span = int64(time.Second)
	}
	if !w.started {
		w.started = true
		w.old.Merge(cum)
		w.mid.Merge(cum)
		w.midAt = now
		return 0, 0
	}
	w.diff.Reset()
	w.diff.Merge(cum)
	w.diff.Sub(&w.old)
	if now-w.midAt >= span/2 {
		w.old.Reset()
		w.old.Merge(&w.mid)
		w.mid.Reset()
		w.mid.Merge(cum)
		w.midAt = now
	}
	return time.Duration(w.diff.Quantile(0.99)), w.diff.Count()
}
