package histogram

// Sub removes from h the values recorded in o, an earlier snapshot of the
// same stream: h becomes what was recorded between the two snapshots (the
// lag of the last second, from two snapshots of a session's cumulative
// histogram). A bucket of o above h's (o is not an earlier snapshot) leaves
// that bucket empty. The exact Min and Max of the difference are not
// known: they become the bounds of its lowest and highest non-empty
// buckets (Max no higher than h's), so that Quantile stays within them.
func (h *Histogram) Sub(o *Histogram) {
	var count, sum uint64
	first, last := -1, -1
	for i := range h.counts {
		c := h.counts[i]
		if o.counts[i] >= c {
			c = 0
		} else {
			c -= o.counts[i]
		}
		h.counts[i] = c
		if c == 0 {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
		count += c
	}
	if count == 0 {
		h.Reset()
		return
	}
	if h.sum >= o.sum {
		sum = h.sum - o.sum
	}
	lo, _ := bucketBounds(first)
	hiLo, width := bucketBounds(last)
	h.count, h.sum = count, sum
	h.min = lo
	h.max = min(h.max, hiLo+(width-1))
}
