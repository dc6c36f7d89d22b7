package conntrack

// Sweep ages the table without a timer per entry: a clock hand shared by
// all callers moves over n slots; each expired entry is removed (emitting
// a Delete record if this member owns it), each dirty entry (a record was
// lost to a full ring) is re-emitted as an Update at its current version.
// It returns how many entries expired. Call it from a housekeeping loop or
// a worker's idle time with n sized so the hand covers the table well
// within the shortest timeout: Cap()/n calls per sweep. Safe for
// concurrent use; it takes shard locks only to remove.
func (t *Table) Sweep(n int) int {
	total := uint64(len(t.entries))
	if n <= 0 {
		return 0
	}
	if uint64(n) > total {
		n = int(total)
	}
	now := t.clk.Now()
	start := t.sweepHand.Add(uint64(n)) - uint64(n)
	expired := 0
	for i := 0; i < n; i++ {
		idx := uint32((start + uint64(i)) % total)
		e := &t.entries[idx]
		g := e.gen.Load()
		if g&1 == 0 {
			continue
		}
		m := e.meta.Load()
		if e.expires.Load() <= now {
			if t.remove(Ref{idx, g}, m&fTomb == 0, cExpired) {
				expired++
			}
			continue
		}
		if m&fDirty != 0 {
			e.lock()
			if e.gen.Load() == g && e.meta.Load()&fDirty != 0 {
				t.emit(e, OpUpdate, now)
			}
			e.unlock()
		}
	}
	return expired
}
