package ring_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/tandem-gw/tandem/ring"
)

// queueOf is the method set SPSC and MPSC share; tests and benchmarks are
// written once against it.
type queueOf[T any] interface {
	Enqueue(v T) bool
	EnqueueBatch(items []T) int
	Dequeue() (T, bool)
	DequeueBatch(out []T) int
	Len() int
	Cap() int
}

type queue = queueOf[uint64]

// kind is one ring implementation under test.
type kind struct {
	name          string
	manyProducers bool
	// newAt returns a ring whose positions start at start.
	newAt func(capacity int, start uint64) (queue, error)
	// positions returns the ring's head and tail.
	positions func(q queue) (head, tail uint64)
}

var kinds = []kind{
	{
		name: "SPSC",
		newAt: func(capacity int, start uint64) (queue, error) {
			return asQueue(ring.NewSPSCAt[uint64](capacity, start))
		},
		positions: func(q queue) (uint64, uint64) { return q.(*ring.SPSC[uint64]).Positions() },
	},
	{
		name:          "MPSC",
		manyProducers: true,
		newAt: func(capacity int, start uint64) (queue, error) {
			return asQueue(ring.NewMPSCAt[uint64](capacity, start))
		},
		positions: func(q queue) (uint64, uint64) { return q.(*ring.MPSC[uint64]).Positions() },
	},
}

// asQueue avoids a non-nil interface holding a nil ring.
func asQueue[Q queue](q Q, err error) (queue, error) {
	if err != nil {
		return nil, err
	}
	return q, nil
}

// starts are initial positions: the ordinary one, and some just before the
// uint64 counters wrap, and the signed midpoint.
var starts = []uint64{0, math.MaxUint64 - 2, math.MaxUint64, math.MaxUint64 - 100, 1<<63 - 5}

func newQueue(t testing.TB, k kind, capacity int, start uint64) queue {
	t.Helper()
	q, err := k.newAt(capacity, start)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestNewRejectsBadCapacity(t *testing.T) {
	for _, c := range []int{math.MinInt, -4, -1, 0, 1, 3, 6, 100, ring.MaxCapacity + 1, ring.MaxCapacity * 2, math.MaxInt} {
		_, errS := ring.NewSPSC[uint64](c)
		_, errM := ring.NewMPSC[uint64](c)
		for _, err := range []error{errS, errM} {
			if !errors.Is(err, ring.ErrCapacity) {
				t.Errorf("capacity %d: error %v, want one wrapping ErrCapacity", c, err)
			} else if !strings.Contains(err.Error(), fmt.Sprint(c)) {
				t.Errorf("capacity %d: error %q does not say which capacity", c, err)
			}
		}
	}
	for _, c := range []int{2, 4, 1024} {
		for _, k := range kinds {
			q := newQueue(t, k, c, 0)
			if q.Cap() != c || q.Len() != 0 {
				t.Errorf("%s capacity %d: Cap %d Len %d, want %d 0", k.name, c, q.Cap(), q.Len(), c)
			}
		}
	}
}

// model drives a ring filled with consecutive numbers and checks every
// result against what a FIFO of the same capacity must return.
type model struct {
	t          *testing.T
	q          queue
	next, want uint64 // next value to enqueue, next value to dequeue
	buf        []uint64
}

func newModel(t *testing.T, q queue) *model {
	return &model{t: t, q: q, buf: make([]uint64, 2*q.Cap()+2)}
}

func (m *model) held() int { return int(m.next - m.want) }

func (m *model) enqueue() {
	m.t.Helper()
	ok := m.q.Enqueue(m.next)
	if ok != (m.held() < m.q.Cap()) {
		m.t.Fatalf("Enqueue with %d of %d held = %v", m.held(), m.q.Cap(), ok)
	}
	if ok {
		m.next++
	}
	m.checkLen()
}

func (m *model) enqueueBatch(k int) {
	m.t.Helper()
	items := m.buf[:k]
	for i := range items {
		items[i] = m.next + uint64(i)
	}
	got := m.q.EnqueueBatch(items)
	if want := min(k, m.q.Cap()-m.held()); got != want {
		m.t.Fatalf("EnqueueBatch(%d) with %d of %d held = %d, want %d", k, m.held(), m.q.Cap(), got, want)
	}
	m.next += uint64(got)
	m.checkLen()
}

func (m *model) dequeue() {
	m.t.Helper()
	v, ok := m.q.Dequeue()
	if ok != (m.held() > 0) || ok && v != m.want {
		m.t.Fatalf("Dequeue with %d held = %d, %v; want %d, %v", m.held(), v, ok, m.want, m.held() > 0)
	}
	if ok {
		m.want++
	}
	m.checkLen()
}

func (m *model) dequeueBatch(k int) {
	m.t.Helper()
	out := m.buf[:k]
	got := m.q.DequeueBatch(out)
	if want := min(k, m.held()); got != want {
		m.t.Fatalf("DequeueBatch(%d) with %d held = %d, want %d", k, m.held(), got, want)
	}
	for i, v := range out[:got] {
		if v != m.want+uint64(i) {
			m.t.Fatalf("DequeueBatch(%d): out[%d] = %d, want %d", k, i, v, m.want+uint64(i))
		}
	}
	m.want += uint64(got)
	m.checkLen()
}

func (m *model) checkLen() {
	m.t.Helper()
	if got := m.q.Len(); got != m.held() {
		m.t.Fatalf("Len = %d, want %d", got, m.held())
	}
}

func TestFullAndEmptyEdges(t *testing.T) {
	for _, k := range kinds {
		for _, start := range starts {
			t.Run(fmt.Sprintf("%s/start=%d", k.name, start), func(t *testing.T) {
				m := newModel(t, newQueue(t, k, 8, start))
				// Empty: nothing comes out, empty batches are no-ops.
				m.dequeue()
				m.dequeueBatch(5)
				m.dequeueBatch(0)
				m.enqueueBatch(0)
				// Fill one by one, then one too many, singly and in a batch.
				for range 9 {
					m.enqueue()
				}
				m.enqueueBatch(1)
				m.enqueueBatch(4)
				// One slot free: a batch takes exactly one.
				m.dequeue()
				m.enqueueBatch(5)
				// Drain with a batch larger than the ring, then refill with one.
				m.dequeueBatch(17)
				m.dequeue()
				m.enqueueBatch(17)
				m.enqueue()
				m.dequeueBatch(8)
				m.dequeueBatch(1)
			})
		}
	}
}

// TestBatchSizes moves values through the ring in every batch size from 1 to
// the capacity, against consumers taking 1, the same size and the capacity at
// a time, over enough rounds to wrap both the slots and the uint64 positions.
func TestBatchSizes(t *testing.T) {
	const capacity = 32
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			for n := 1; n <= capacity; n++ {
				for _, take := range []int{1, n, capacity} {
					start := uint64(math.MaxUint64 - capacity*3/2)
					m := newModel(t, newQueue(t, k, capacity, start))
					for range 4 * capacity / n {
						m.enqueueBatch(n)
						m.enqueueBatch(n) // the second may find the ring full or short
						m.dequeueBatch(take)
					}
					for m.held() > 0 {
						m.dequeueBatch(take)
					}
				}
			}
		})
	}
}

// TestRandomOperations runs long random sequences of all four operations
// against the model, from starting positions around the wrap point.
func TestRandomOperations(t *testing.T) {
	for _, k := range kinds {
		for _, start := range starts {
			for _, capacity := range []int{2, 8, 64} {
				t.Run(fmt.Sprintf("%s/cap=%d/start=%d", k.name, capacity, start), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(start, uint64(capacity)))
					m := newModel(t, newQueue(t, k, capacity, start))
					for range 20_000 {
						switch rng.IntN(4) {
						case 0:
							m.enqueue()
						case 1:
							m.enqueueBatch(rng.IntN(capacity + 2))
						case 2:
							m.dequeue()
						case 3:
							m.dequeueBatch(rng.IntN(capacity + 2))
						}
					}
				})
			}
		}
	}
}

// TestWrapAround checks that the positions really pass 2^64 during a run
// that starts just before it, with values still in order.
func TestWrapAround(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			start := uint64(math.MaxUint64 - 5)
			q := newQueue(t, k, 8, start)
			m := newModel(t, q)
			for range 10 {
				m.enqueueBatch(3)
				m.dequeueBatch(2)
			}
			head, tail := k.positions(q)
			if head >= start || tail >= start {
				t.Fatalf("head %d, tail %d after the run: the positions did not wrap", head, tail)
			}
			if want := start + m.next; tail != want {
				t.Fatalf("tail = %d, want %d", tail, want)
			}
			for m.held() > 0 {
				m.dequeue()
			}
		})
	}
}

// record stands for the delta records the dataplane hands to the sync worker.
type record struct {
	_   [16]byte // key and state: shape only
	_   uint32
	seq uint64
}

func TestNoAllocations(t *testing.T) {
	t.Run("SPSC/uint64", func(t *testing.T) { checkNoAllocs(t, must(ring.NewSPSC[uint64](64)), 7) })
	t.Run("MPSC/uint64", func(t *testing.T) { checkNoAllocs(t, must(ring.NewMPSC[uint64](64)), 7) })
	t.Run("SPSC/record", func(t *testing.T) { checkNoAllocs(t, must(ring.NewSPSC[record](64)), record{seq: 7}) })
	t.Run("MPSC/record", func(t *testing.T) { checkNoAllocs(t, must(ring.NewMPSC[record](64)), record{seq: 7}) })
	x := 7
	t.Run("SPSC/pointer", func(t *testing.T) { checkNoAllocs(t, must(ring.NewSPSC[*int](64)), &x) })
	t.Run("MPSC/pointer", func(t *testing.T) { checkNoAllocs(t, must(ring.NewMPSC[*int](64)), &x) })
}

func must[Q any](q Q, err error) Q {
	if err != nil {
		panic(err)
	}
	return q
}

func checkNoAllocs[T any](t *testing.T, q queueOf[T], v T) {
	items := make([]T, 32)
	for i := range items {
		items[i] = v
	}
	out := make([]T, 32)
	for name, op := range map[string]func(){
		"Enqueue+Dequeue": func() {
			q.Enqueue(v)
			q.Dequeue()
		},
		"EnqueueBatch+DequeueBatch": func() {
			q.EnqueueBatch(items)
			q.DequeueBatch(out)
		},
		"full and empty": func() {
			for q.Enqueue(v) {
			}
			q.EnqueueBatch(items)
			for q.DequeueBatch(out) > 0 {
			}
			q.Dequeue()
		},
	} {
		if allocs := testing.AllocsPerRun(1000, op); allocs != 0 {
			t.Errorf("%s allocates %.2f times per run, want 0", name, allocs)
		}
	}
}

// TestDoesNotRetainDequeuedPointers checks that a ring of pointers does not
// keep the values it has handed out reachable.
func TestDoesNotRetainDequeuedPointers(t *testing.T) {
	for name, q := range map[string]queueOf[*[64]byte]{
		"SPSC": must(ring.NewSPSC[*[64]byte](8)),
		"MPSC": must(ring.NewMPSC[*[64]byte](8)),
	} {
		refs := passThrough(q)
		runtime.GC()
		for i, w := range refs {
			if w.Value() != nil {
				t.Errorf("%s: value %d is still reachable after it was dequeued", name, i)
			}
		}
	}
}

// passThrough sends fresh values through q, singly and in batches, and
// returns weak references to them.
//
//go:noinline
func passThrough(q queueOf[*[64]byte]) []weak.Pointer[[64]byte] {
	var refs []weak.Pointer[[64]byte]
	batch := make([]*[64]byte, 4)
	for i := range batch {
		batch[i] = new([64]byte)
		refs = append(refs, weak.Make(batch[i]))
	}
	single := new([64]byte)
	refs = append(refs, weak.Make(single))
	q.Enqueue(single)
	q.EnqueueBatch(batch)
	q.Dequeue()
	q.DequeueBatch(batch) // overwrites batch with the same pointers ...
	clear(batch)          // ... which the ring alone may still hold
	return refs
}
