package ring_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var stressItems = flag.Uint64("ring.stress-items", 0,
	"values sent through the ring in each TestStress run (0: 2^25, 2^21 under -race, 2^16 with -short)")

func stressCount() uint64 {
	switch {
	case *stressItems > 0:
		return *stressItems
	case testing.Short():
		return 1 << 16
	case raceEnabled:
		return 1 << 21
	default:
		return 1 << 25
	}
}

// Each value carries its producer in the top byte and that producer's
// sequence number below.
func tag(producer int, seq uint64) uint64 { return uint64(producer)<<56 | seq }

func untag(v uint64) (producer int, seq uint64) { return int(v >> 56), v & (1<<56 - 1) }

// TestStress runs producers and a consumer on different CPUs, each picking
// single or batch operations of random sizes, and checks that every value
// arrives exactly once and in its producer's order. Half the runs start the
// positions just before they wrap.
func TestStress(t *testing.T) {
	if len(allowedCPUs) < 2 {
		t.Logf("only %d CPU allowed: producers and consumer share it", len(allowedCPUs))
	}
	for _, k := range kinds {
		producerCounts := []int{1}
		if k.manyProducers {
			producerCounts = append(producerCounts, 3)
		}
		for _, producers := range producerCounts {
			for _, start := range []uint64{0, math.MaxUint64 - 1000} {
				t.Run(fmt.Sprintf("%s/producers=%d/start=%d", k.name, producers, start), func(t *testing.T) {
					runStress(t, k, producers, stressCount()/uint64(producers), start)
				})
			}
		}
	}
}

func runStress(t *testing.T, k kind, producers int, items, start uint64) {
	const capacity = 256
	q := newQueue(t, k, capacity, start)
	var stop atomic.Bool
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop.Store(true) // on failure, release the producers before waiting for them
	for p := range producers {
		wg.Go(func() {
			// Producer p runs on CPU p, the consumer on the last CPU: with two
			// CPUs, producer 0 and the consumer never share one.
			defer mustPin(p, t.Logf)()
			rng := rand.New(rand.NewPCG(uint64(p), start))
			buf := make([]uint64, capacity+1)
			bo := backoff{yieldEvery: 64}
			for sent := uint64(0); sent < items && !stop.Load(); {
				n := 0
				if rng.IntN(4) == 0 {
					if q.Enqueue(tag(p, sent)) {
						n = 1
					}
				} else {
					batch := buf[:min(1+rng.Uint64N(uint64(len(buf))), items-sent)]
					for i := range batch {
						batch[i] = tag(p, sent+uint64(i))
					}
					n = q.EnqueueBatch(batch)
				}
				if n == 0 {
					bo.wait()
					continue
				}
				bo.reset()
				sent += uint64(n)
			}
		})
	}

	defer mustPin(len(allowedCPUs)-1, t.Logf)()
	rng := rand.New(rand.NewPCG(start, 99))
	next := make([]uint64, producers) // next sequence number due from each producer
	out := make([]uint64, capacity+1)
	total := items * uint64(producers)
	bo := backoff{yieldEvery: 64}
	lastGot, lastProgress := uint64(0), time.Now()
	for got := uint64(0); got < total; {
		n := 0
		if rng.IntN(4) == 0 {
			if v, ok := q.Dequeue(); ok {
				out[0], n = v, 1
			}
		} else {
			n = q.DequeueBatch(out[:1+rng.IntN(len(out))])
		}
		if n == 0 {
			bo.wait()
			if bo.tries%(1<<16) == 0 { // a cheap watchdog: the test must not hang if values are lost
				if got != lastGot {
					lastGot, lastProgress = got, time.Now()
				} else if time.Since(lastProgress) > 30*time.Second {
					t.Fatalf("no value for 30s with %d of %d received (next due per producer: %v)", got, total, next)
				}
			}
			continue
		}
		bo.reset()
		for _, v := range out[:n] {
			p, seq := untag(v)
			if p >= producers || seq != next[p] {
				t.Fatalf("got value %d of producer %d, want %d: lost, duplicated or reordered",
					seq, p, next[min(p, producers-1)])
			}
			next[p]++
		}
		got += uint64(n)
	}
	stop.Store(true)
	wg.Wait()
	if v, ok := q.Dequeue(); ok || q.Len() != 0 {
		t.Fatalf("after every value arrived: Dequeue = %d, %v and Len = %d, want an empty ring", v, ok, q.Len())
	}
	if head, tail := k.positions(q); head != tail || tail != start+total {
		t.Fatalf("head %d, tail %d, want both %d", head, tail, start+total)
	}
}
