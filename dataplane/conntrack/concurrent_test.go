package conntrack

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Readers look up a fixed set of connections while writers churn other
// connections through the same shards (insert, track, delete, NAT), a
// sweeper ages and Apply runs: the fixed set must always be found, with
// the right direction. Run with -race.
func TestConcurrentReadersWriters(t *testing.T) {
	tb, clk, rr := testTable(t, Config{
		MaxEntries: 2048, Shards: 8, Self: 1,
		SNAT: []SNATPool{{Addrs: []netip.Addr{addr("203.0.113.7")}, PortMin: 1024, PortMax: 65535}},
	})
	const fixed = 256
	keys := make([]Key, fixed)
	for i := range keys {
		keys[i] = tcpKey(ip4(10, 1, byte(i>>8), byte(i)), 1000, ip4(10, 9, 9, 9), 80)
		if _, err := tb.Insert(keys[i], StateEstablished); err != nil {
			t.Fatal(err)
		}
	}
	n := 3000
	if testing.Short() {
		n = 500
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				k := keys[(i*7+g)%fixed]
				_, d, ok := tb.Lookup(k)
				_, rd, rok := tb.Lookup(k.Reverse())
				if !ok || d != DirOriginal || !rok || rd != DirReply {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var hits [fixed]Hit
		for !stop.Load() {
			tb.Prefetch(keys)
			if n := tb.LookupBatch(keys, hits[:]); n != fixed {
				bad.Add(1)
			}
		}
	}()
	var writers sync.WaitGroup
	for g := 0; g < 2; g++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < n; i++ {
				k := udpKey(ip4(10, 2, byte(g), byte(i)), uint16(i), ip4(10, 9, 9, 9), 53)
				nat := NATRequest{}
				if i%2 == 0 {
					nat = snat0
				}
				r := tb.Track(k, Segment{}, nat)
				if r.Verdict == Accept && r.Rewrite.Op == RewriteSrc {
					tb.Track(udpKey(ip4(10, 9, 9, 9), 53, r.Rewrite.Addr, r.Rewrite.Port), Segment{}, NATRequest{})
				}
				if i%3 == 0 {
					tb.Delete(k)
				}
				if i%64 == 0 {
					tb.Digest()
				}
			}
		}()
	}
	writers.Add(1)
	go func() {
		defer writers.Done()
		for i := 0; i < n/10; i++ {
			clk.Advance(time.Second)
			tb.Sweep(256)
			drain(rr)
			tb.Apply(Record{Key: udpKey(ip4(10, 3, 0, byte(i)), 1, ip4(10, 9, 9, 9), 53),
				Op: OpNew, Version: uint64(i + 1), State: StateUDPReplied, Owner: 2, Timeout: 1000})
		}
	}()
	// A sync receiver: batches of peer records, NATed or not, each
	// connection new, then updated, then deleted (a tombstone).
	writers.Add(1)
	go func() {
		defer writers.Done()
		recs := make([]Record, 8)
		res := make([]ApplyResult, len(recs))
		for i := 0; i < n/10; i++ {
			for j := range recs {
				r := Record{Key: udpKey(ip4(10, 4, byte(j), byte(i/3)), 1, ip4(10, 9, 9, 9), 53),
					Op: Op(i%3 + 1), Version: uint64(i + 1), State: StateUDPReplied, Owner: 2, Timeout: 1000}
				if j%2 == 0 {
					r.NAT, r.NATPort = NATSource, uint16(2000+j+len(recs)*(i/3))
					r.NATAddr = [16]byte{203, 0, 113, 9}
				}
				recs[j] = r
			}
			tb.ApplyBatch(recs, res)
			for j, a := range res {
				if a != Applied && a != ApplyFull { // the other writers may fill the table
					t.Errorf("batch %d record %d: %v", i, j, a)
				}
			}
		}
	}()
	writers.Wait()
	stop.Store(true)
	wg.Wait()
	if b := bad.Load(); b != 0 {
		t.Fatalf("%d lookups of permanent connections missed", b)
	}
}

func TestAllocsPerRun(t *testing.T) {
	tb, _, rr := testTable(t, Config{
		MaxEntries: 4096, Self: 1,
		SNAT: []SNATPool{{Addrs: []netip.Addr{addr("203.0.113.7")}, PortMin: 1024, PortMax: 65535}},
	})
	hit := tcpKey(ip4(10, 0, 0, 1), 1000, ip4(10, 9, 9, 9), 80)
	tb.Insert(hit, StateEstablished)
	miss := hit
	miss.SrcPort++
	churn := udpKey(ip4(10, 0, 0, 2), 1000, ip4(10, 9, 9, 9), 53)
	c := &conn{t: t, tb: tb, fwd: tcpKey(ip4(10, 0, 0, 3), 1, ip4(10, 9, 9, 9), 443), cseq: 1, sseq: 1}
	c.rev = c.fwd.Reverse()
	c.handshake()
	var sink Record
	batch := [3]Key{hit, miss, c.rev}
	var hits [3]Hit
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Lookup/hit", func() { tb.Lookup(hit) }},
		{"Lookup/miss", func() { tb.Lookup(miss) }},
		{"LookupBatch+Prefetch", func() {
			tb.Prefetch(batch[:])
			tb.LookupBatch(batch[:], hits[:])
		}},
		{"Insert+Delete", func() {
			tb.Insert(churn, StateUDPUnreplied)
			tb.Delete(churn)
		}},
		{"Track/new+delete with SNAT and records", func() {
			tb.Track(churn, Segment{}, snat0)
			tb.Delete(churn)
			for _, ok := rr.Dequeue(); ok; _, ok = rr.Dequeue() {
			}
		}},
		{"Track/established", func() { c.send(DirOriginal, FlagACK, 10) }},
		{"emit", func() {
			e := &tb.entries[0]
			e.lock()
			tb.emit(e, OpUpdate, tb.Now())
			e.unlock()
			sink, _ = rr.Dequeue()
		}},
		{"Apply", func() {
			tb.Apply(Record{Key: churn, Op: OpNew, Version: 1, State: StateUDPReplied, Owner: 2})
		}},
	} {
		if n := testing.AllocsPerRun(200, tc.f); n != 0 {
			t.Errorf("%s: %v allocs per run", tc.name, n)
		}
	}
	_ = sink
}
