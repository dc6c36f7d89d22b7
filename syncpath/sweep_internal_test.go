package syncpath

import (
	"testing"
	"time"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// nopTransport sends nowhere and receives nothing.
type nopTransport struct{}

func (nopTransport) Send(uint8, []byte) error             { return nil }
func (nopTransport) Receive([][]byte, []int) (int, error) { return 0, nil }
func (nopTransport) Close() error                         { return nil }

// TestEmptyBackupSweepsLateRecords: a backup whose table is empty when it
// starts collecting a snapshot tracks only the keys it applies from records
// older than the snapshot (suspect), not every key of the snapshot. A key
// applied so, which the snapshot does not contain, is gone on the peer
// and must be removed when the snapshot ends; the snapshot's own keys stay.
func TestEmptyBackupSweepsLateRecords(t *testing.T) {
	for _, suspect := range []bool{true, false} {
		got, _ := backupSweep(t, suspect, false)
		if suspect && got {
			t.Fatal("the backup kept a connection the snapshot did not contain")
		}
		if !suspect && !got {
			t.Fatal("without the suspect keys the stale connection went all the same: the test does not guard them")
		}
	}
}

// TestBackupSweepsHeldEntries: a backup that already holds some of the
// peer's connections when it starts collecting a snapshot (deltas it took
// before, as a backup does while the active's engine starts) removes those
// the snapshot does not contain, keeps those it does, and tracks only the
// connections it held (suspect), not every key of the snapshot.
func TestBackupSweepsHeldEntries(t *testing.T) {
	late, held := backupSweep(t, true, true)
	if late || held {
		t.Fatalf("the backup kept a connection the snapshot did not contain (late delta %v, held before %v)", late, held)
	}
}

// backupSweep replays, frame by frame, a snapshot whose second chunk
// arrives first, an older delta after it (a connection deleted on the
// peer before the snapshot), then the first chunk and DONE. It reports
// whether the backup still holds the older delta's connection at the end,
// and (preload) one it held before the snapshot began that the snapshot
// does not contain. track=false switches the suspect keys off.
func backupSweep(t *testing.T, track, preload bool) (lateKept, heldKept bool) {
	t.Helper()
	key := make([]byte, 32)
	keys := ccp.NewKeyring()
	if err := keys.Add(1, ccp.AlgAES256GCM, key); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(1e12)
	to := conntrack.DefaultTimeouts()
	to.UDP, to.UDPStream = time.Hour, time.Hour
	table, err := conntrack.New(conntrack.Config{MaxEntries: 1024, Self: 2, Clock: clk, Timeouts: to})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Cluster: 7, Self: 2, Peer: 1, Epoch: 5, Keys: keys, Transport: nopTransport{}, Table: table, Clock: clk, Delay: -1})
	if err != nil {
		t.Fatal(err)
	}
	// The peer: member 1's own table makes the records.
	peerTable, err := conntrack.New(conntrack.Config{MaxEntries: 1024, Self: 1, Clock: clk, Timeouts: to})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(i byte) conntrack.Record {
		var src, dst [16]byte
		src[10], src[11], src[12], src[15] = 0xff, 0xff, 10, i
		dst[10], dst[11], dst[12], dst[15] = 0xff, 0xff, 192, 1
		k := conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoUDP, src, dst, 1000, 53)
		peerTable.Track(k, conntrack.Segment{}, conntrack.NATRequest{})
		r, ok := peerTable.Get(k)
		if !ok {
			t.Fatal("peer connection missing")
		}
		r.Op = conntrack.OpNew
		return r
	}
	a1, a2, stale, held := rec(1), rec(2), rec(3), rec(4)
	sealer, err := ccp.NewSealer(keys, 7, 1, 9)
	if err != nil {
		t.Fatal(err)
	}
	fw := ccp.NewFrameWriter(sealer, 1400)
	send := func(op ccp.Opcode, dataSeq uint64, chunk *ccp.FullSyncChunk, done *ccp.FullSyncDone, recs ...conntrack.Record) {
		t.Helper()
		h := ccp.Header{Op: op, Target: 2, DataSeq: dataSeq}
		var b []byte
		if done != nil {
			b = done.Append(ccp.AppendHeader(make([]byte, 0, 1400), &h))
			sealed, err := sealer.Seal(b)
			if err != nil {
				t.Fatal(err)
			}
			s.handle(sealed, clk.Now())
			return
		}
		if err := fw.Begin(make([]byte, 0, 1400), h); err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			if ok, err := fw.Add(&recs[i]); !ok || err != nil {
				t.Fatalf("packing: %v %v", ok, err)
			}
		}
		if chunk != nil {
			fw.SetChunk(*chunk)
		}
		sealed, err := fw.Seal()
		if err != nil {
			t.Fatal(err)
		}
		s.handle(sealed, clk.Now())
	}
	const session = 77
	if preload {
		// Taken before the snapshot begins (the stream is not tracked
		// yet: applied, not acknowledged); a2 is in the snapshot too.
		send(ccp.OpDelta, 3, nil, nil, held, a2)
	}
	send(ccp.OpFullSyncChunk, 10, &ccp.FullSyncChunk{Session: session, Index: 1}, nil, a2)
	if want := map[bool]int{false: 0, true: 1}[preload]; len(s.suspect) != want {
		// held is suspect; a2 came in the snapshot since.
		t.Fatalf("collection began with %d suspect keys, want %d", len(s.suspect), want)
	}
	send(ccp.OpDelta, 5, nil, nil, stale) // older than the snapshot
	if !track {
		clear(s.suspect) // as if the suspect keys were not kept
	}
	send(ccp.OpFullSyncChunk, 9, &ccp.FullSyncChunk{Session: session, Index: 0}, nil, a1)
	send(ccp.OpFullSyncChunk, 10, &ccp.FullSyncChunk{Session: session, Index: 1}, nil, a2) // again: it came before the stream was tracked
	send(ccp.OpFullSyncDone, 11, nil, &ccp.FullSyncDone{Session: session, Chunks: 2, Records: 2})
	if c := s.Counters(); c.FullSyncsReceived != 1 {
		t.Fatalf("the snapshot did not complete: %+v", c)
	}
	for _, r := range []conntrack.Record{a1, a2} {
		if _, ok := table.Get(r.Key); !ok {
			t.Fatal("a connection of the snapshot is missing")
		}
	}
	_, lateKept = table.Get(stale.Key)
	_, heldKept = table.Get(held.Key)
	return lateKept, heldKept
}
