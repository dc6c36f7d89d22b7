// Package synctest is an in-memory, lossy datagram network for testing the
// sync path without sockets or root: a Network joins Transports (one per
// member id) and, per directed link, drops, duplicates, delays, reorders and
// corrupts datagrams at configured rates, with a seeded math/rand/v2 source
// and delays measured on an injected clock.Clock, so a test driven by a
// clock.Manual sees exactly the same losses and arrival order on every run.
//
// It owns the simulated links and their counters, and a keyring with a
// fixed, public test key (Keyring) for tests and benchmarks; it knows
// nothing else of CCP beyond carrying bytes.
package synctest

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// Link is how one directed link (from one member to another) mistreats
// datagrams. Rates are probabilities in [0, 1] applied to every datagram
// independently; the zero Link delivers everything at once, in order.
type Link struct {
	Loss      float64       // dropped
	Duplicate float64       // delivered twice (the copy gets its own delay)
	Reorder   float64       // held back by a random extra delay up to ReorderDelay
	Corrupt   float64       // one random bit flipped
	Delay     time.Duration // base one-way delay
	Jitter    time.Duration // uniform extra delay in [0, Jitter)
	// ReorderDelay bounds the extra delay of a reordered datagram
	// (default 5 * Delay, at least 1ms).
	ReorderDelay time.Duration
	// Down drops everything (a cut link).
	Down bool
}

// Counters count what a Network did to datagrams.
type Counters struct {
	Sent       uint64 // Send calls accepted
	Delivered  uint64 // datagrams handed to a Receive
	Dropped    uint64 // lost to Loss or Down
	Duplicated uint64 // extra copies made
	Reordered  uint64 // held back by ReorderDelay
	Corrupted  uint64 // bit flipped
	Unroutable uint64 // sent to a member with no transport
}

// Network is a set of in-memory links. It is safe for concurrent use.
type Network struct {
	clk clock.Clock

	mu    sync.Mutex
	rng   *rand.Rand
	links map[[2]uint8]Link
	ports [256]*Transport
	seq   uint64
	cnt   Counters
}

// NewNetwork returns a network whose delays run on clk and whose random
// decisions come from a PCG source seeded with seed.
func NewNetwork(clk clock.Clock, seed uint64) *Network {
	return &Network{
		clk:   clk,
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		links: make(map[[2]uint8]Link),
	}
}

// SetLink sets the behaviour of the link from member from to member to.
// It may be changed at any time; datagrams in flight keep their delay.
func (n *Network) SetLink(from, to uint8, l Link) {
	n.mu.Lock()
	n.links[[2]uint8{from, to}] = l
	n.mu.Unlock()
}

// SetLinks sets both directions between a and b to l.
func (n *Network) SetLinks(a, b uint8, l Link) {
	n.SetLink(a, b, l)
	n.SetLink(b, a, l)
}

// Counters returns a snapshot of the network's counters.
func (n *Network) Counters() Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cnt
}

// Transport attaches member id to the network, replacing (and closing)
// any transport it had: a restarted member gets a fresh, empty queue.
func (n *Network) Transport(id uint8) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.ports[id]; old != nil {
		old.closed = true
	}
	t := &Transport{net: n, id: id}
	n.ports[id] = t
	return t
}

// Transport is one member's end of a Network. It implements
// syncpath.Transport; Receive never waits.
type Transport struct {
	net *Network
	id  uint8
	// guarded by net.mu
	q      queue
	closed bool
}

var _ syncpath.Transport = (*Transport)(nil)

// Send implements syncpath.Transport: it applies the link's loss,
// corruption, duplication and delay, and queues the datagram for peer.
func (t *Transport) Send(peer uint8, b []byte) error {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.closed {
		return syncpath.ErrClosed
	}
	dst := n.ports[peer]
	if dst == nil || dst.closed {
		n.cnt.Unroutable++
		return nil // like UDP: nobody listening is not the sender's error
	}
	n.cnt.Sent++
	l := n.links[[2]uint8{t.id, peer}]
	copies := 1
	if l.Duplicate > 0 && n.rng.Float64() < l.Duplicate {
		copies = 2
		n.cnt.Duplicated++
	}
	now := n.clk.Now()
	for range copies {
		if l.Down || (l.Loss > 0 && n.rng.Float64() < l.Loss) {
			n.cnt.Dropped++
			continue
		}
		d := make([]byte, len(b))
		copy(d, b)
		if l.Corrupt > 0 && len(d) > 0 && n.rng.Float64() < l.Corrupt {
			i := n.rng.IntN(len(d) * 8)
			d[i/8] ^= 1 << (i % 8)
			n.cnt.Corrupted++
		}
		at := now + int64(l.Delay)
		if l.Jitter > 0 {
			at += n.rng.Int64N(int64(l.Jitter))
		}
		if l.Reorder > 0 && n.rng.Float64() < l.Reorder {
			rd := l.ReorderDelay
			if rd <= 0 {
				rd = max(5*l.Delay, time.Millisecond)
			}
			at += 1 + n.rng.Int64N(int64(rd))
			n.cnt.Reordered++
		}
		n.seq++
		heap.Push(&dst.q, item{at: at, seq: n.seq, b: d})
	}
	return nil
}

// Receive implements syncpath.Transport: it returns the datagrams whose
// delivery time has come on the network's clock, earliest first.
func (t *Transport) Receive(bufs [][]byte, sizes []int) (int, error) {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.closed {
		return 0, syncpath.ErrClosed
	}
	now := n.clk.Now()
	k := 0
	for k < len(bufs) && len(t.q) > 0 && t.q[0].at <= now {
		it := heap.Pop(&t.q).(item)
		sizes[k] = copy(bufs[k], it.b)
		k++
		n.cnt.Delivered++
	}
	return k, nil
}

// Pending returns how many datagrams wait for this transport.
func (t *Transport) Pending() int {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	return len(t.q)
}

// Close implements syncpath.Transport.
func (t *Transport) Close() error {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	t.closed = true
	if t.net.ports[t.id] == t {
		t.net.ports[t.id] = nil
	}
	t.q = nil
	return nil
}

// String describes the transport.
func (t *Transport) String() string { return fmt.Sprintf("synctest member %d", t.id) }

type item struct {
	at  int64
	seq uint64
	b   []byte
}

// queue is a min-heap of datagrams by delivery time, then send order.
type queue []item

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(item)) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = item{}
	*q = old[:len(old)-1]
	return it
}

// Keyring returns a keyring holding the fixed test key: id 1, AES-256-GCM,
// bytes 0, 1, …, 31. Tests and benchmarks only: the key is public.
func Keyring() *ccp.Keyring {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	r := ccp.NewKeyring()
	if err := r.Add(1, ccp.AlgAES256GCM, k); err != nil {
		panic(fmt.Sprintf("synctest: adding the test key: %v", err)) // cannot fail: a valid id, algorithm and length
	}
	return r
}
