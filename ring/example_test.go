package ring_test

import (
	"fmt"

	"github.com/tandem-gw/tandem/ring"
)

// A dataplane worker hands its records to the sync worker in batches and
// counts what did not fit; the sync worker drains into its own buffer.
func ExampleSPSC() {
	r, err := ring.NewSPSC[record](4)
	if err != nil {
		panic(err)
	}

	// Producer side: one rx batch produced six records; the ring holds four.
	records := make([]record, 6)
	for i := range records {
		records[i].seq = uint64(i)
	}
	n := r.EnqueueBatch(records)
	overflow := len(records) - n // the caller's drop counter

	// Consumer side.
	out := make([]record, 32)
	got := r.DequeueBatch(out)
	fmt.Println("enqueued", n, "overflow", overflow, "dequeued", got, "last seq", out[got-1].seq)
	// Output: enqueued 4 overflow 2 dequeued 4 last seq 3
}
