package conntrack

import (
	"testing"
)

func TestNextTCPState(t *testing.T) {
	for _, c := range []struct {
		s     State
		d     Dir
		flags uint8
		want  State
		ok    bool
	}{
		{StateNone, DirOriginal, FlagSYN, StateSynSent, true},
		{StateNone, DirOriginal, FlagACK, StateEstablished, true}, // pickup
		{StateNone, DirOriginal, FlagRST, StateNone, false},
		{StateSynSent, DirReply, FlagSYN | FlagACK, StateSynRecv, true},
		{StateSynSent, DirReply, FlagSYN, StateSynSent2, true},
		{StateSynSent2, DirReply, FlagSYN | FlagACK, StateSynRecv, true},
		{StateSynRecv, DirOriginal, FlagACK, StateEstablished, true},
		{StateSynSent, DirOriginal, FlagACK, StateSynSent, false},
		{StateEstablished, DirOriginal, FlagFIN | FlagACK, StateFinWait, true},
		{StateFinWait, DirReply, FlagACK, StateCloseWait, true},
		{StateCloseWait, DirReply, FlagFIN | FlagACK, StateLastAck, true},
		{StateFinWait, DirReply, FlagFIN | FlagACK, StateLastAck, true},
		{StateLastAck, DirOriginal, FlagACK, StateTimeWait, true},
		{StateTimeWait, DirOriginal, FlagSYN, StateSynSent, true},
		{StateEstablished, DirReply, FlagRST, StateClose, true},
		{StateEstablished, DirOriginal, FlagSYN, StateEstablished, true}, // ignored
		{StateEstablished, DirReply, FlagSYN | FlagACK, StateEstablished, true},
		{StateEstablished, DirOriginal, 0, StateEstablished, false},
	} {
		got, ok := NextTCPState(c.s, c.d, c.flags)
		if got != c.want || ok != c.ok {
			t.Errorf("NextTCPState(%v, %v, %#x) = %v %v, want %v %v", c.s, c.d, c.flags, got, ok, c.want, c.ok)
		}
	}
}

func TestTCPLifecycle(t *testing.T) {
	tb, _, rr := testTable(t, Config{})
	k := tcpKey(ip4(10, 0, 0, 1), 40000, ip4(10, 9, 9, 9), 443)
	c := &conn{t: t, tb: tb, fwd: k, rev: k.Reverse(), cseq: 1000, sseq: 5000000}
	c.handshake()
	if r := c.send(DirOriginal, FlagACK|FlagPSH, 500); r.Verdict != Accept {
		t.Fatal(r.Verdict)
	}
	if r := c.send(DirReply, FlagACK, 1400); r.Verdict != Accept {
		t.Fatal(r.Verdict)
	}
	steps := []struct {
		d     Dir
		flags uint8
		want  State
	}{
		{DirOriginal, FlagFIN | FlagACK, StateFinWait},
		{DirReply, FlagACK, StateCloseWait},
		{DirReply, FlagFIN | FlagACK, StateLastAck},
		{DirOriginal, FlagACK, StateTimeWait},
	}
	for _, s := range steps {
		if r := c.send(s.d, s.flags, 0); r.Verdict != Accept || r.State != s.want {
			t.Fatalf("%v %#x: %v %v, want %v", s.d, s.flags, r.Verdict, r.State, s.want)
		}
	}
	recs := drain(rr)
	var states []State
	var last uint64
	for _, r := range recs {
		if r.Version <= last {
			t.Fatalf("versions not increasing: %+v", recs)
		}
		last = r.Version
		states = append(states, r.State)
	}
	want := []State{StateSynSent, StateSynRecv, StateEstablished, StateFinWait, StateCloseWait, StateLastAck, StateTimeWait}
	if len(states) != len(want) {
		t.Fatalf("record states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("record states %v, want %v", states, want)
		}
	}
	if recs[0].Op != OpNew || recs[1].Op != OpUpdate {
		t.Fatalf("ops %v %v", recs[0].Op, recs[1].Op)
	}
}

func TestTCPWindowCheck(t *testing.T) {
	tb, _, _ := testTable(t, Config{})
	k := tcpKey(ip4(10, 0, 0, 1), 40000, ip4(10, 9, 9, 9), 443)
	c := &conn{t: t, tb: tb, fwd: k, rev: k.Reverse(), cseq: 1000, sseq: 7000}
	c.handshake()
	// A segment far beyond what the server's window allows.
	seg := Segment{Flags: FlagACK, Seq: c.cseq + 1<<30, Ack: c.sseq, Window: 1000, WScale: NoWScale}
	if r := tb.Track(k, seg, NATRequest{}); r.Verdict != DropInvalid {
		t.Fatalf("out-of-window segment: %v", r.Verdict)
	}
	// An ACK for data the server never sent.
	seg = Segment{Flags: FlagACK, Seq: c.cseq, Ack: c.sseq + 1<<20, Window: 1000, WScale: NoWScale}
	if r := tb.Track(k, seg, NATRequest{}); r.Verdict != DropInvalid {
		t.Fatalf("ack of unsent data: %v", r.Verdict)
	}
	if r := c.send(DirOriginal, FlagACK, 100); r.Verdict != Accept {
		t.Fatalf("in-window segment after invalid ones: %v", r.Verdict)
	}
	if s := tb.Stats(); s.DropInvalid != 2 {
		t.Fatalf("DropInvalid = %d", s.DropInvalid)
	}
}

func TestTCPPickupOffByDefault(t *testing.T) {
	k := tcpKey(ip4(10, 0, 0, 1), 40000, ip4(10, 9, 9, 9), 443)
	mid := Segment{Flags: FlagACK, Seq: 1, Ack: 2, Window: 100, WScale: NoWScale}
	tb, _, _ := testTable(t, Config{})
	for _, f := range []uint8{FlagACK, FlagACK | FlagPSH, FlagFIN | FlagACK} {
		mid.Flags = f
		if r := tb.Track(k, mid, NATRequest{}); r.Verdict != DropNoPickup && r.Verdict != DropInvalid {
			t.Fatalf("mid-stream %#x created state: %v", f, r.Verdict)
		}
	}
	if tb.Len() != 0 || tb.Stats().DropNoPickup == 0 {
		t.Fatalf("len %d stats %+v", tb.Len(), tb.Stats())
	}
	mid.Flags = FlagACK
	tb2, _, _ := testTable(t, Config{TCPPickup: true})
	if r := tb2.Track(k, mid, NATRequest{}); r.Verdict != Accept || r.State != StateEstablished {
		t.Fatalf("pickup on: %+v", r)
	}
	// The picked-up connection's reply learns its window from its first packet.
	rep := Segment{Flags: FlagACK, Seq: 99999, Ack: 1, Window: 100, WScale: NoWScale}
	if r := tb2.Track(k.Reverse(), rep, NATRequest{}); r.Verdict != Accept {
		t.Fatalf("reply of picked-up connection: %v", r.Verdict)
	}
}

// A connection replicated to a backup while its sequence numbers were at
// one point keeps working on the backup after failover although both
// sides have moved on by megabytes since the last record.
func TestReplicatedConnectionAcceptsMovedOnSequence(t *testing.T) {
	active, _, rr := testTable(t, Config{Self: 1})
	backup, _, _ := testTable(t, Config{Self: 2})
	k := tcpKey(ip4(10, 0, 0, 1), 40000, ip4(10, 9, 9, 9), 443)
	c := &conn{t: t, tb: active, fwd: k, rev: k.Reverse(), cseq: 1000, sseq: 9000}
	c.handshake()
	for _, r := range drain(rr) {
		if res := backup.Apply(r); res != Applied {
			t.Fatalf("apply %+v: %v", r, res)
		}
	}
	// Traffic goes on on the active only: 5 MB each way.
	for i := 0; i < 4000; i++ {
		c.send(DirOriginal, FlagACK, 1300)
		c.send(DirReply, FlagACK, 1300)
	}
	if n := backup.PromoteOwner(1, 2); n != 1 {
		t.Fatalf("promoted %d", n)
	}
	c.tb = backup
	for i := 0; i < 3; i++ {
		if r := c.send(DirOriginal, FlagACK, 1300); r.Verdict != Accept || r.State != StateEstablished {
			t.Fatalf("client segment on promoted backup: %+v", r)
		}
		if r := c.send(DirReply, FlagACK, 1300); r.Verdict != Accept {
			t.Fatalf("server segment on promoted backup: %+v", r)
		}
	}
	// Once learnt, the window is enforced again.
	seg := Segment{Flags: FlagACK, Seq: c.cseq + 1<<30, Ack: c.sseq, Window: 100, WScale: NoWScale}
	if r := backup.Track(k, seg, NATRequest{}); r.Verdict != DropInvalid {
		t.Fatalf("wild segment after relearning: %v", r.Verdict)
	}
}

func TestTCPReopenFromTimeWait(t *testing.T) {
	tb, _, _ := testTable(t, Config{})
	k := tcpKey(ip4(10, 0, 0, 1), 40000, ip4(10, 9, 9, 9), 443)
	c := &conn{t: t, tb: tb, fwd: k, rev: k.Reverse(), cseq: 1000, sseq: 9000}
	c.handshake()
	for _, s := range []struct {
		d Dir
		f uint8
	}{{DirOriginal, FlagFIN | FlagACK}, {DirReply, FlagFIN | FlagACK}, {DirOriginal, FlagACK}} {
		c.send(s.d, s.f, 0)
	}
	c2 := &conn{t: t, tb: tb, fwd: k, rev: k.Reverse(), cseq: 777777, sseq: 3}
	c2.handshake()
}

// TestFailoverCrossingTraffic: during a failover the two directions of a
// connection cross different members for a moment, so each member sees
// ACKs of data only the other forwarded. The new owner (after
// PromoteOwner) and the old one (after applying the promotion's record)
// accept and relearn; a member with strict tracking drops the same ACK
// (the control); and once relearnt, the window is enforced again.
func TestFailoverCrossingTraffic(t *testing.T) {
	a, _, ar := testTable(t, Config{Self: 1})
	b, _, br := testTable(t, Config{Self: 2})
	k := tcpKey(ip4(10, 0, 0, 1), 40000, ip4(10, 9, 9, 9), 443)
	c := &conn{t: t, tb: a, fwd: k, rev: k.Reverse(), cseq: 1000, sseq: 9000}
	c.handshake()
	c.send(DirOriginal, FlagACK, 100)
	c.send(DirReply, FlagACK, 100)
	for _, r := range drain(ar) {
		b.Apply(r)
	}
	// The control: on a, strict, an ACK of server data a never saw.
	unseen := Segment{Flags: FlagACK, Seq: c.cseq, Ack: c.sseq + 5000, Window: 65535, WScale: NoWScale}
	if r := a.Track(k, unseen, NATRequest{}); r.Verdict != DropInvalid {
		t.Fatalf("strict tracking accepted an ACK of unseen data: %v", r.Verdict)
	}
	// Takeover by b; its promotion reaches a.
	if n := b.PromoteOwner(1, 2); n != 1 {
		t.Fatalf("promoted %d", n)
	}
	for _, r := range drain(br) {
		if res := a.Apply(r); res != Applied {
			t.Fatalf("old owner applying the promotion: %v", res)
		}
	}
	// The server's data still goes through a; the client, moved to b,
	// acknowledges it there.
	c.tb = a
	for range 3 {
		if r := c.send(DirReply, FlagACK, 1000); r.Verdict != Accept {
			t.Fatalf("server data through the old owner: %v", r.Verdict)
		}
	}
	c.tb = b
	if r := c.send(DirOriginal, FlagACK, 100); r.Verdict != Accept {
		t.Fatalf("client ACK of data only the old owner saw, on the new owner: %v", r.Verdict)
	}
	// The client's data still goes through a for a moment too.
	c.tb = a
	if r := c.send(DirOriginal, FlagACK, 100); r.Verdict != Accept {
		t.Fatalf("client data through the old owner after the promotion: %v", r.Verdict)
	}
	// Everything through b from now on: relearnt, then strict again.
	c.tb = b
	for range 3 {
		if r := c.send(DirReply, FlagACK, 1000); r.Verdict != Accept {
			t.Fatalf("server data on the new owner: %v", r.Verdict)
		}
		if r := c.send(DirOriginal, FlagACK, 100); r.Verdict != Accept {
			t.Fatalf("client data on the new owner: %v", r.Verdict)
		}
	}
	if s := b.Stats(); s.Relearned == 0 {
		t.Fatalf("no segment counted as relearned: %+v", s)
	}
	wild := Segment{Flags: FlagACK, Seq: c.cseq + 1<<30, Ack: c.sseq, Window: 100, WScale: NoWScale}
	if r := b.Track(k, wild, NATRequest{}); r.Verdict != DropInvalid {
		t.Fatalf("wild segment after relearning: %v", r.Verdict)
	}
}
