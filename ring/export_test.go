package ring

// Hooks for the external tests: rings whose positions start near the wrap of
// the uint64 counters, and a view of those positions.

func NewSPSCAt[T any](capacity int, start uint64) (*SPSC[T], error) {
	return newSPSC[T](capacity, start)
}

func NewMPSCAt[T any](capacity int, start uint64) (*MPSC[T], error) {
	return newMPSC[T](capacity, start)
}

func (r *SPSC[T]) Positions() (head, tail uint64) { return r.head.Load(), r.tail.Load() }

func (r *MPSC[T]) Positions() (head, tail uint64) { return r.head.Load(), r.tail.Load() }
