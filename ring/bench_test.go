package ring_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/internal/histogram"
)

// The benchmarks measure each ring and, in the same benchmark function and
// for the same number of operations, a buffered channel of the same capacity
// doing the same job the same way: non-blocking sends and receives, a
// producer on CPU 0 and a consumer on CPU 1. Every figure comes with its
// channel counterpart and their ratio (ring / channel). The two are measured
// in alternating rounds (rounds of b.N/rounds operations each), so that a
// burst of other work on the shared machine hits both alike. The built-in
// ns/op is suppressed: it would mix the ring's run with the channel's.
//
//	go test -run '^$' -bench . -count 5 ./ring/

const (
	benchCapacity = 1024 // slots in every ring and channel
	consumerBatch = 32   // the consumers drain with DequeueBatch of this size
	rounds        = 8    // alternating ring and channel measurements per benchmark
)

// chanQueue gives a buffered channel the rings' method set and their
// non-blocking semantics.
type chanQueue chan uint64

func (c chanQueue) Enqueue(v uint64) bool {
	select {
	case c <- v:
		return true
	default:
		return false
	}
}

func (c chanQueue) EnqueueBatch(items []uint64) int {
	for i, v := range items {
		select {
		case c <- v:
		default:
			return i
		}
	}
	return len(items)
}

func (c chanQueue) Dequeue() (uint64, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return 0, false
	}
}

func (c chanQueue) DequeueBatch(out []uint64) int {
	for i := range out {
		select {
		case out[i] = <-c:
		default:
			return i
		}
	}
	return len(out)
}

func (c chanQueue) Len() int { return len(c) }
func (c chanQueue) Cap() int { return cap(c) }

// needTwoCPUs skips a benchmark that cannot put the consumer on another core.
func needTwoCPUs(b *testing.B) {
	if len(allowedCPUs) < 2 {
		b.Skipf("needs 2 CPUs to run the consumer on another core; %d allowed", len(allowedCPUs))
	}
}

// drain dequeues total values from q in batches of consumerBatch. When q is
// empty it polls again at once if pause is 0, or after spinning on the clock
// for pause, which touches no memory the producer writes.
func drain(q queue, total int, pause time.Duration) {
	out := make([]uint64, consumerBatch)
	var bo backoff
	for got := 0; got < total; {
		n := q.DequeueBatch(out)
		if n == 0 {
			bo.wait()
			if pause > 0 {
				for start := time.Now(); time.Since(start) < pause; {
				}
			}
			continue
		}
		got += n
	}
}

// startConsumer runs drain(q, total, pause) on CPU 1, once ready has been
// closed, and returns a channel that receives the time it finished.
func startConsumer(b *testing.B, q queue, total int, pause time.Duration, pinned *sync.WaitGroup, ready <-chan struct{}) <-chan time.Time {
	done := make(chan time.Time, 1)
	pinned.Add(1)
	go func() {
		defer mustPin(1, b.Logf)()
		pinned.Done()
		<-ready
		drain(q, total, pause)
		done <- time.Now()
	}()
	return done
}

// BenchmarkEnqueueLatency times every Enqueue (batch=1) or EnqueueBatch of 32
// (batch=32) while a consumer on the other core drains the ring, with two
// consumer policies for an empty ring: consumer=spin polls again at once (the
// worst case for the producer: every poll pulls the cache lines the producer
// is about to write back to the consumer's core), consumer=pause polls again
// after 1µs, as a sync worker that has nothing to send can.
//
// Method: a call is timed by reading the monotonic clock before and after it
// with time.Since on a fixed base, which reads only the runtime's nanotime (a
// vDSO clock_gettime on the TSC here, no wall-clock read). A figure thus
// includes about one clock read, reported in the same run as clock-ns (the
// median of two back-to-back reads) and not subtracted: the figures are upper
// bounds. A call that finds the ring full is retried and not recorded; those
// calls are counted in full/op (per recorded call). A batch call that takes
// part of the batch is recorded, and the rest goes in the next call. max-ns
// mostly shows the producer thread being descheduled.
//
// Metrics: p50-ns, p99-ns, p999-ns, max-ns of the ring's calls; chan-p50-ns,
// chan-p99-ns, chan-p999-ns of the channel's; p50-ratio-to-chan and
// p99-ratio-to-chan (ring / channel: below 1 the ring is faster).
func BenchmarkEnqueueLatency(b *testing.B) {
	policies := []struct {
		name  string
		pause time.Duration
	}{{"spin", 0}, {"pause", time.Microsecond}}
	for _, k := range kinds {
		for _, batch := range []int{1, 32} {
			for _, policy := range policies {
				b.Run(fmt.Sprintf("%s/batch=%d/consumer=%s", k.name, batch, policy.name), func(b *testing.B) {
					needTwoCPUs(b)
					q, ch := newQueue(b, k, benchCapacity, 0), make(chanQueue, benchCapacity)
					r, c := new(histogram.Histogram), new(histogram.Histogram)
					rFull := 0
					for range rounds {
						rFull += measureLatency(b, q, batch, policy.pause, roundSize(b), r)
						measureLatency(b, ch, batch, policy.pause, roundSize(b), c)
					}
					b.ReportMetric(0, "ns/op")
					b.ReportMetric(float64(r.Quantile(0.5)), "p50-ns")
					b.ReportMetric(float64(r.Quantile(0.99)), "p99-ns")
					b.ReportMetric(float64(r.Quantile(0.999)), "p999-ns")
					b.ReportMetric(float64(r.Max()), "max-ns")
					b.ReportMetric(float64(c.Quantile(0.5)), "chan-p50-ns")
					b.ReportMetric(float64(c.Quantile(0.99)), "chan-p99-ns")
					b.ReportMetric(float64(c.Quantile(0.999)), "chan-p999-ns")
					b.ReportMetric(float64(r.Quantile(0.5))/float64(c.Quantile(0.5)), "p50-ratio-to-chan")
					b.ReportMetric(float64(r.Quantile(0.99))/float64(c.Quantile(0.99)), "p99-ratio-to-chan")
					b.ReportMetric(float64(rFull)/float64(r.Count()), "full/op")
					b.ReportMetric(float64(clockCost()), "clock-ns")
				})
			}
		}
	}
}

// roundSize is the number of operations in one round of a benchmark.
func roundSize(b *testing.B) int { return max(b.N/rounds, 1) }

// measureLatency makes n timed enqueue calls of batch values into q, on CPU
// 0, with a consumer draining q on CPU 1 with the given pause. It records the
// latencies in h and returns how many calls found q full.
func measureLatency(b *testing.B, q queue, batch int, pause time.Duration, n int, h *histogram.Histogram) (full int) {
	var pinned sync.WaitGroup
	ready := make(chan struct{})
	done := startConsumer(b, q, n*batch, pause, &pinned, ready)
	defer mustPin(0, b.Logf)()
	pinned.Wait()
	close(ready)

	items := make([]uint64, batch)
	base := time.Now()
	var bo backoff
	for i := range n {
		for off := 0; off < batch; {
			n := 0
			t0 := time.Since(base)
			if batch == 1 {
				if q.Enqueue(uint64(i)) {
					n = 1
				}
			} else {
				n = q.EnqueueBatch(items[off:])
			}
			d := time.Since(base) - t0
			if n == 0 {
				full++
				bo.wait()
				continue
			}
			bo.reset()
			h.Record(uint64(d))
			off += n
		}
	}
	<-done
	return full
}

// clockCost returns the median time between two back-to-back clock reads as
// measureLatency takes them.
func clockCost() uint64 {
	h := new(histogram.Histogram)
	base := time.Now()
	for range 100_000 {
		t0 := time.Since(base)
		h.Record(uint64(time.Since(base) - t0))
	}
	return h.Quantile(0.5)
}

// BenchmarkThroughput moves b.N values from the producers (all on CPU 0) to
// a consumer on CPU 1, Enqueue by Enqueue (batch=1) or in batches of 32, and
// reports items/s from the start until the consumer (polling without pause)
// has them all, the same
// for the channel (chan-items/s), and ratio-to-chan (ring / channel: above 1
// the ring is faster). With 2 producers, the two share CPU 0: on this
// 2-core machine the consumer keeps a core to itself.
func BenchmarkThroughput(b *testing.B) {
	for _, k := range kinds {
		producerCounts := []int{1}
		if k.manyProducers {
			producerCounts = append(producerCounts, 2)
		}
		for _, producers := range producerCounts {
			for _, batch := range []int{32, 1} {
				name := fmt.Sprintf("%s/batch=%d", k.name, batch)
				if k.manyProducers {
					name = fmt.Sprintf("%s/producers=%d/batch=%d", k.name, producers, batch)
				}
				b.Run(name, func(b *testing.B) {
					needTwoCPUs(b)
					q, ch := newQueue(b, k, benchCapacity, 0), make(chanQueue, benchCapacity)
					var r, c, ratios []float64
					for range rounds {
						r = append(r, measureThroughput(b, q, producers, batch, roundSize(b)))
						c = append(c, measureThroughput(b, ch, producers, batch, roundSize(b)))
						ratios = append(ratios, r[len(r)-1]/c[len(c)-1])
					}
					b.ReportMetric(0, "ns/op")
					b.ReportMetric(median(r), "items/s")
					b.ReportMetric(median(c), "chan-items/s")
					b.ReportMetric(median(ratios), "ratio-to-chan")
				})
			}
		}
	}
}

// median returns the median of xs, which must not be empty.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// measureThroughput returns the rate at which about n values, split among the
// producers, went through q.
func measureThroughput(b *testing.B, q queue, producers, batch, n int) (itemsPerSec float64) {
	perProducer := max(n/producers, 1)
	total := perProducer * producers
	var pinned, producing sync.WaitGroup
	ready := make(chan struct{})
	done := startConsumer(b, q, total, 0, &pinned, ready)
	pinned.Add(producers)
	for range producers {
		producing.Go(func() {
			defer mustPin(0, b.Logf)()
			pinned.Done()
			items := make([]uint64, batch)
			<-ready
			// Producers that share CPU 0 share one P as well: one that finds the
			// ring full yields it, since the other may hold a reservation the
			// consumer waits for (MPSC) or simply have values to send.
			var bo backoff
			if producers > 1 {
				bo.yieldEvery = 64
			}
			for sent := 0; sent < perProducer; {
				n := 0
				if batch == 1 {
					if q.Enqueue(uint64(sent)) {
						n = 1
					}
				} else {
					n = q.EnqueueBatch(items[:min(batch, perProducer-sent)])
				}
				if n == 0 {
					bo.wait()
					continue
				}
				sent += n
			}
		})
	}
	pinned.Wait()
	start := time.Now()
	close(ready)
	end := <-done
	producing.Wait()
	return float64(total) / end.Sub(start).Seconds()
}
