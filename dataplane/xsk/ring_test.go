package xsk

import (
	"math"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeRing lays a ring out in ordinary memory, with the kernel's side played
// by the test: producer, consumer and flags words, then the entries.
type fakeRing struct {
	mem  []uint64 // 8-byte aligned backing store
	off  unix.XDPRingOffset
	size uint32
}

func newFakeRing(size uint32, entrySize uintptr, start uint32) (*fakeRing, ringIndices, unsafe.Pointer) {
	f := &fakeRing{size: size, off: unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}}
	f.mem = make([]uint64, (192+uintptr(size)*entrySize)/8+1)
	*f.word(f.off.Producer) = start
	*f.word(f.off.Consumer) = start
	base := unsafe.Pointer(&f.mem[0])
	r := ringIndices{
		producer: f.word(f.off.Producer), consumer: f.word(f.off.Consumer), flags: f.word(f.off.Flags),
		mask: size - 1, size: size, cachedProd: start, cachedCons: start,
	}
	return f, r, unsafe.Add(base, f.off.Desc)
}

func (f *fakeRing) word(off uint64) *uint32 {
	return (*uint32)(unsafe.Add(unsafe.Pointer(&f.mem[0]), off))
}

func (f *fakeRing) prod() uint32 { return atomic.LoadUint32(f.word(f.off.Producer)) }
func (f *fakeRing) cons() uint32 { return atomic.LoadUint32(f.word(f.off.Consumer)) }

// nearWrap starts the indices just below the uint32 wrap.
var nearWrap uint32 = math.MaxUint32 - 5

func TestFillQueueWrapsAndRespectsKernelConsumer(t *testing.T) {
	f, r, d := newFakeRing(8, 8, nearWrap)
	q := newFillQueue(r, d)
	in := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if n := q.Produce(in); n != 8 {
		t.Fatalf("produced %d into an empty ring of 8", n)
	}
	if n := q.Produce(in); n != 0 {
		t.Fatalf("produced %d into a full ring", n)
	}
	if f.prod() != nearWrap+8 {
		t.Fatalf("producer index %d, want %d (wrapped)", f.prod(), uint32(nearWrap+8))
	}
	// The kernel consumes three; the ring has room for exactly three more.
	atomic.StoreUint32(f.word(f.off.Consumer), nearWrap+3)
	if n := q.Produce(in[8:]); n != 2 {
		t.Fatalf("produced %d of 2", n)
	}
	if n := q.Produce(in); n != 1 {
		t.Fatalf("produced %d, want the 1 slot left", n)
	}
	// Slots hold what was produced, in order, across the wrap.
	for i, want := range []uint64{4, 5, 6, 7, 8, 9, 10, 1} {
		idx := (nearWrap + 3 + uint32(i)) & 7
		if got := q.addrs[idx]; got != want {
			t.Errorf("slot %d holds %d, want %d", idx, got, want)
		}
	}
}

func TestRxQueueBatchesAcrossWrap(t *testing.T) {
	f, r, d := newFakeRing(16, unsafe.Sizeof(Desc{}), nearWrap)
	q := newRxQueue(r, d)
	out := make([]Desc, 16)
	if n := q.Receive(out); n != 0 {
		t.Fatalf("received %d from an empty ring", n)
	}
	next := uint64(0)
	seen := uint64(0)
	for round := 0; round < 50; round++ {
		// The kernel produces a batch of 1..16 entries.
		batch := uint32(round%16 + 1)
		p := f.prod()
		for i := uint32(0); i < batch; i++ {
			q.descs[(p+i)&15] = Desc{Addr: next, Len: 60}
			next++
		}
		atomic.StoreUint32(f.word(f.off.Producer), p+batch)
		// We consume in chunks of 5.
		for {
			n := q.Receive(out[:5])
			if n == 0 {
				break
			}
			for i := 0; i < n; i++ {
				if out[i].Addr != seen {
					t.Fatalf("round %d: got addr %d, want %d", round, out[i].Addr, seen)
				}
				seen++
			}
		}
		if f.cons() != f.prod() {
			t.Fatalf("round %d: consumer %d behind producer %d after draining", round, f.cons(), f.prod())
		}
	}
	if seen != next {
		t.Fatalf("consumed %d of %d", seen, next)
	}
}

func TestTxQueueKeepsMultiBufferPacketsWhole(t *testing.T) {
	_, r, d := newFakeRing(4, unsafe.Sizeof(Desc{}), 0)
	q := newTxQueue(r, d)
	// Two 3-buffer packets: only the first fits in 4 slots.
	pkts := []Desc{
		{Addr: 0, Options: OptionContinued}, {Addr: 1, Options: OptionContinued}, {Addr: 2},
		{Addr: 3, Options: OptionContinued}, {Addr: 4, Options: OptionContinued}, {Addr: 5},
	}
	if n := q.Transmit(pkts); n != 3 {
		t.Fatalf("transmitted %d descriptors, want 3 (one whole packet)", n)
	}
	if n, complete := PacketSpan(pkts[3:]); n != 3 || !complete {
		t.Errorf("PacketSpan = %d, %v; want 3, true", n, complete)
	}
	if n, complete := PacketSpan(pkts[3:5]); n != 2 || complete {
		t.Errorf("PacketSpan of a cut packet = %d, %v; want 2, false", n, complete)
	}
}

func TestTxQueuePending(t *testing.T) {
	f, r, d := newFakeRing(8, unsafe.Sizeof(Desc{}), nearWrap)
	q := newTxQueue(r, d)
	if q.Pending() != 0 {
		t.Fatalf("pending %d on an empty ring", q.Pending())
	}
	q.Transmit([]Desc{{Addr: 1}, {Addr: 2}, {Addr: 3}})
	if q.Pending() != 3 {
		t.Fatalf("pending %d, want 3", q.Pending())
	}
	atomic.StoreUint32(f.word(f.off.Consumer), nearWrap+2) // the kernel takes two, across the wrap
	if q.Pending() != 1 {
		t.Fatalf("pending %d after the kernel took two, want 1", q.Pending())
	}
}

func TestCompletionQueueConsume(t *testing.T) {
	f, r, d := newFakeRing(8, 8, nearWrap)
	q := newCompletionQueue(r, d)
	for i := uint32(0); i < 6; i++ {
		q.addrs[(nearWrap+i)&7] = uint64(100 + i)
	}
	atomic.StoreUint32(f.word(f.off.Producer), nearWrap+6)
	out := make([]uint64, 4)
	if n := q.Consume(out); n != 4 || out[0] != 100 || out[3] != 103 {
		t.Fatalf("consumed %d: %v", n, out[:n])
	}
	if n := q.Consume(out); n != 2 || out[0] != 104 || out[1] != 105 {
		t.Fatalf("consumed %d: %v", n, out[:n])
	}
}

func TestNeedWakeupFlag(t *testing.T) {
	f, r, d := newFakeRing(8, 8, 0)
	q := newFillQueue(r, d)
	if q.NeedWakeup() {
		t.Fatal("wakeup wanted before the kernel asked")
	}
	atomic.StoreUint32(f.word(f.off.Flags), unix.XDP_RING_NEED_WAKEUP)
	if !q.NeedWakeup() {
		t.Fatal("kernel's wakeup request not seen")
	}
}

func TestFreeListGetPut(t *testing.T) {
	u := &UMEM{frameSize: 2048, frameCount: 8, area: make([]byte, 8*2048)}
	fl := NewFreeList(u, 2, 4) // frames 2..5
	out := make([]uint64, 8)
	n := fl.Get(out)
	if n != 4 {
		t.Fatalf("got %d frames, want 4", n)
	}
	got := map[uint64]bool{}
	for _, a := range out[:n] {
		got[a] = true
	}
	for i := uint32(2); i < 6; i++ {
		if !got[u.FrameAddr(i)] {
			t.Errorf("frame %d not handed out", i)
		}
	}
	// Received descriptors point past the headroom; Put takes them back to
	// the frame base.
	if m := fl.Put([]uint64{out[0] + 256, out[1] + 300}); m != 2 {
		t.Fatalf("put %d of 2", m)
	}
	n = fl.Get(out[:2])
	for _, a := range out[:n] {
		if a%2048 != 0 {
			t.Errorf("frame address %d not at a frame base", a)
		}
	}
	// A double free beyond capacity is refused, not absorbed.
	if m := fl.Put([]uint64{0, 2048, 4096, 6144, 8192}); m != 4 {
		t.Errorf("put %d into a list with room for 4", m)
	}
	if u.Bytes(8*2048-10, 20) != nil {
		t.Error("Bytes beyond the area returned memory")
	}
}

func TestRingOperationsDoNotAllocate(t *testing.T) {
	_, fr, fd := newFakeRing(64, 8, nearWrap)
	fill := newFillQueue(fr, fd)
	cf, cr, cd := newFakeRing(64, 8, nearWrap)
	comp := newCompletionQueue(cr, cd)
	rf, rr, rd := newFakeRing(64, unsafe.Sizeof(Desc{}), nearWrap)
	rx := newRxQueue(rr, rd)
	tf, tr, td := newFakeRing(64, unsafe.Sizeof(Desc{}), nearWrap)
	tx := newTxQueue(tr, td)
	u := &UMEM{frameSize: 2048, frameCount: 64, area: make([]byte, 64*2048)}
	fl := NewFreeList(u, 0, 64)

	addrs := make([]uint64, 32)
	descs := make([]Desc, 32)
	allocs := testing.AllocsPerRun(1000, func() {
		n := fl.Get(addrs)
		fill.Produce(addrs[:n])
		atomic.StoreUint32(fr.consumer, atomic.LoadUint32(fr.producer)) // kernel takes them
		fl.Put(addrs[:n])

		atomic.AddUint32(rf.word(rf.off.Producer), 32) // kernel delivers 32
		m := rx.Receive(descs)
		_ = u.Bytes(descs[0].Addr, 60)

		tx.Transmit(descs[:m])
		atomic.StoreUint32(tf.word(tf.off.Consumer), atomic.LoadUint32(tf.word(tf.off.Producer)))
		atomic.AddUint32(cf.word(cf.off.Producer), 32) // kernel completes 32
		comp.Consume(addrs)
	})
	if allocs != 0 {
		t.Fatalf("ring operations allocate %.1f times per batch", allocs)
	}
}
