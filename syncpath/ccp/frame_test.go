package ccp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// TestSealOpenDelta: records packed, sealed, opened and decoded come back
// equal, and the header says what the sender set.
func TestSealOpenDelta(t *testing.T) {
	s, o, _ := pair(t)
	recs := sampleRecords()
	f := deltaFrame(t, s, 1472, recs)
	fr, err := o.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	h := fr.Header
	if h.Op != OpDelta || h.Sender != memberA || h.Target != memberB || h.Cluster != testCluster ||
		h.Epoch != testEpoch || h.Seq != 1 || h.DataSeq != 1 || h.KeyID != 1 || int(h.Count) != len(recs) ||
		int(h.Length) != len(f)-Overhead {
		t.Fatalf("header %+v", h)
	}
	rr, err := fr.Records()
	if err != nil {
		t.Fatal(err)
	}
	var r conntrack.Record
	for i := range recs {
		if ok, err := rr.Next(&r); !ok || err != nil || r != recs[i] {
			t.Fatalf("record %d: %v %v\n got %+v\nwant %+v", i, ok, err, r, recs[i])
		}
	}
	if ok, err := rr.Next(&r); ok || err != nil {
		t.Fatalf("after the last record: %v, %v", ok, err)
	}
	if c := o.Counters(); c.Opened != 1 || c.Rejected() != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// TestMessages: every body type round-trips through seal and open, and a
// decoder refuses a frame of another opcode.
func TestMessages(t *testing.T) {
	s, o, _ := pair(t)
	for _, tc := range []struct {
		in  Body
		out interface{ Decode(*Frame) error }
	}{
		{&Heartbeat{Role: RoleBackup, Priority: 90, Status: StatusReady | StatusSynced, Conns: 1 << 20, Time: 1e12, Echo: 1e12 - 5}, &Heartbeat{}},
		{&Ack{Ranges: []NackRange{{5, 5}, {7, 9}, {1 << 40, 1<<40 + 3}}}, &Ack{}},
		{&FullSyncRequest{Reason: ReasonWindow, Session: 0xdeadbeef}, &FullSyncRequest{}},
		{&FullSyncDone{Session: 3, Chunks: 70, Records: 1e6, Digest: 0x0123456789abcdef}, &FullSyncDone{}},
		{&RoleClaim{Action: RoleClaimActive, Priority: 200, Term: 41}, &RoleClaim{}},
	} {
		f, err := s.SealMessage(make([]byte, 0, 1472), Header{Target: memberB, Flags: FlagAck, Ack: 4}, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := o.Open(f)
		if err != nil {
			t.Fatalf("%v: %v", tc.in.Opcode(), err)
		}
		if fr.Op != tc.in.Opcode() || fr.Ack != 4 || fr.Flags != FlagAck {
			t.Fatalf("%v: header %+v", tc.in.Opcode(), fr.Header)
		}
		if err := tc.out.Decode(&fr); err != nil {
			t.Fatalf("%v: %v", tc.in.Opcode(), err)
		}
		if a, b := tc.in.Append(nil), tc.out.(Body).Append(nil); !bytes.Equal(a, b) {
			t.Fatalf("%v: decoded %+v, sent %+v", tc.in.Opcode(), tc.out, tc.in)
		}
		wrong := fr
		wrong.Op = OpDelta
		if err := tc.out.Decode(&wrong); !errors.Is(err, ErrOpcode) {
			t.Fatalf("%v decoder on a delta: %v", tc.in.Opcode(), err)
		}
		short := fr
		short.Body = short.Body[:len(short.Body)-1]
		if err := tc.out.Decode(&short); !errors.Is(err, ErrMalformed) && !(tc.in.Opcode() == OpAck && err == nil) {
			t.Fatalf("%v with a short body: %v", tc.in.Opcode(), err)
		}
	}
	if _, err := (&Frame{Header: Header{Op: OpHeartbeat}}).Records(); !errors.Is(err, ErrOpcode) {
		t.Fatalf("Records of a heartbeat: %v", err)
	}
}

// TestAckRanges: nack ranges must be ascending, disjoint, First <= Last,
// and exactly Count of them.
func TestAckRanges(t *testing.T) {
	for name, rs := range map[string][]NackRange{
		"reversed":    {{9, 7}},
		"overlapping": {{1, 5}, {5, 6}},
		"descending":  {{10, 11}, {1, 2}},
	} {
		a := Ack{Ranges: rs}
		f := Frame{Header: Header{Op: OpAck, Count: uint16(len(rs))}, Body: a.Append(nil)}
		if err := (&Ack{}).Decode(&f); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	a := Ack{Ranges: []NackRange{{1, 2}}}
	f := Frame{Header: Header{Op: OpAck, Count: 2}, Body: a.Append(nil)}
	if err := (&Ack{}).Decode(&f); !errors.Is(err, ErrMalformed) {
		t.Errorf("count 2 with one range: %v", err)
	}
}

// TestChunk: a FULLSYNC_CHUNK carries its fixed part and records.
func TestChunk(t *testing.T) {
	s, o, _ := pair(t)
	w := NewFrameWriter(s, 1472)
	if err := w.Begin(make([]byte, 0, 1472), Header{Op: OpFullSyncChunk, Target: memberB, DataSeq: 9}); err != nil {
		t.Fatal(err)
	}
	recs := sampleRecords()
	for i := range recs {
		if ok, err := w.Add(&recs[i]); !ok {
			t.Fatal(err)
		}
	}
	w.SetChunk(FullSyncChunk{Session: 5, Index: 2, Cursor: 4096})
	f, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	fr, err := o.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	var c FullSyncChunk
	if err := c.Decode(&fr); err != nil || c != (FullSyncChunk{5, 2, 4096}) {
		t.Fatalf("chunk %+v, %v", c, err)
	}
	rr, err := fr.Records()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecords(nil, rr.b, rr.left)
	if err != nil || len(got) != len(recs) || got[3] != recs[3] {
		t.Fatalf("records %v, %v", got, err)
	}
}

// TestFrameWriterFull: a writer fills to its limit and no further; at the
// frame size limit Begin needs a large enough buffer.
func TestFrameWriterFull(t *testing.T) {
	s, o, _ := pair(t)
	for _, max := range []int{MaxFrameSize(1500, false), MaxFrameSize(1500, true), MaxFrameSize(9000, false)} {
		w := NewFrameWriter(s, max)
		if err := w.Begin(make([]byte, 0, max-1), Header{Op: OpDelta}); !errors.Is(err, ErrFrameSize) {
			t.Fatalf("Begin with a short buffer: %v", err)
		}
		if err := w.Begin(make([]byte, 0, max), Header{Op: OpHeartbeat}); !errors.Is(err, ErrOpcode) {
			t.Fatalf("Begin of a heartbeat: %v", err)
		}
		buf := make([]byte, 0, max)
		if err := w.Begin(buf, Header{Op: OpDelta, Target: memberB}); err != nil {
			t.Fatal(err)
		}
		var want []conntrack.Record
		for i := 0; ; i++ {
			r := newConnV6(i)
			if i%3 == 0 {
				r = newConnV4(i)
			}
			ok, err := w.Add(&r)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				if w.Size()+RecordSize(&r, want[len(want)-1].Version) <= max {
					t.Fatalf("max %d: refused a record that fits", max)
				}
				break
			}
			want = append(want, r)
		}
		f, err := w.Seal()
		if err != nil {
			t.Fatal(err)
		}
		if len(f) > max || &f[0] != &buf[:1][0] {
			t.Fatalf("max %d: frame of %d bytes, in place %v", max, len(f), &f[0] == &buf[:1][0])
		}
		fr, err := o.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRecords(nil, fr.Body, int(fr.Count))
		if err != nil || len(got) != len(want) {
			t.Fatalf("max %d: %d records, want %d: %v", max, len(got), len(want), err)
		}
	}
}

// rejectCase builds a frame (possibly from a fresh sender) and the error
// Open must return.
type rejectCase struct {
	name  string
	frame func(t *testing.T, s *Sealer, ring *Keyring) []byte
	want  error
	count func(c *Counters) uint64
}

// reseal seals a heartbeat from s whose header has edit applied before
// sealing, as a member with a valid key but wrong settings would, so only
// the edited field is wrong. A key id not in the ring gets a zero tag.
func reseal(t *testing.T, s *Sealer, edit func(h *Header)) []byte {
	t.Helper()
	h := Header{Version: Version, Op: OpHeartbeat, KeyID: s.keys.Current(), Cluster: s.cluster,
		Sender: s.sender, Target: memberB, Epoch: s.epoch, Seq: s.seq + 1}
	edit(&h)
	body := (&Heartbeat{Role: RoleActive}).Append(nil)
	h.Length = uint16(len(body))
	out := AppendHeader(make([]byte, 0, HeaderSize+len(body)+TagSize), &h)
	var nonce [nonceSize]byte
	putNonce(&nonce, h.Sender, h.Epoch, h.Seq)
	if a := s.keys.load().aead[h.KeyID]; a != nil {
		return a.Seal(out, nonce[:], body, out[:HeaderSize])
	}
	return append(append(out, body...), make([]byte, TagSize)...)
}

// TestRejections: every rejection reason is detected, returned as its
// sentinel and counted in its own counter, and nothing else is counted.
func TestRejections(t *testing.T) {
	cases := []rejectCase{
		{"empty", func(*testing.T, *Sealer, *Keyring) []byte { return nil }, ErrTruncated, func(c *Counters) uint64 { return c.Truncated }},
		{"short header", func(t *testing.T, s *Sealer, _ *Keyring) []byte { return heartbeatFrame(t, s)[:HeaderSize-1] }, ErrTruncated, func(c *Counters) uint64 { return c.Truncated }},
		{"short body", func(t *testing.T, s *Sealer, _ *Keyring) []byte { f := heartbeatFrame(t, s); return f[:len(f)-1] }, ErrTruncated, func(c *Counters) uint64 { return c.Truncated }},
		{"trailing byte", func(t *testing.T, s *Sealer, _ *Keyring) []byte { return append(heartbeatFrame(t, s), 0) }, ErrLength, func(c *Counters) uint64 { return c.Length }},
		{"magic", func(t *testing.T, s *Sealer, _ *Keyring) []byte { f := heartbeatFrame(t, s); f[0] = 'X'; return f }, ErrBadMagic, func(c *Counters) uint64 { return c.BadMagic }},
		{"version", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			f := heartbeatFrame(t, s)
			f[offVersion] = 2
			return f
		}, ErrVersion, func(c *Counters) uint64 { return c.Version }},
		{"sender 0", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			return reseal(t, s, func(h *Header) { h.Sender = 0 })
		}, ErrBadHeader, func(c *Counters) uint64 { return c.BadHeader }},
		{"seq 0", func(t *testing.T, s *Sealer, _ *Keyring) []byte { return reseal(t, s, func(h *Header) { h.Seq = 0 }) }, ErrBadHeader, func(c *Counters) uint64 { return c.BadHeader }},
		{"seq above max", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			return reseal(t, s, func(h *Header) { h.Seq = MaxSeq + 1 })
		}, ErrBadHeader, func(c *Counters) uint64 { return c.BadHeader }},
		{"key id 0", func(t *testing.T, s *Sealer, _ *Keyring) []byte { return reseal(t, s, func(h *Header) { h.KeyID = 0 }) }, ErrBadHeader, func(c *Counters) uint64 { return c.BadHeader }},
		{"cluster", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			return reseal(t, s, func(h *Header) { h.Cluster = 8 })
		}, ErrClusterMismatch, func(c *Counters) uint64 { return c.ClusterMismatch }},
		{"reflected", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			return reseal(t, s, func(h *Header) { h.Sender = memberB })
		}, ErrReflected, func(c *Counters) uint64 { return c.Reflected }},
		{"not for us", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			return reseal(t, s, func(h *Header) { h.Target = 3 })
		}, ErrNotForUs, func(c *Counters) uint64 { return c.NotForUs }},
		{"unknown key", func(t *testing.T, s *Sealer, _ *Keyring) []byte { return reseal(t, s, func(h *Header) { h.KeyID = 9 }) }, ErrUnknownKey, func(c *Counters) uint64 { return c.UnknownKey }},
		{"forged", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			other := NewKeyring()
			k := testKey()
			k[0] ^= 1
			if err := other.Add(1, AlgAES256GCM, k); err != nil {
				t.Fatal(err)
			}
			forger, _ := NewSealer(other, testCluster, memberA, testEpoch)
			return heartbeatFrame(t, forger)
		}, ErrAuth, func(c *Counters) uint64 { return c.Auth }},
		{"modified body", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			f := heartbeatFrame(t, s)
			f[HeaderSize] ^= 1
			return f
		}, ErrAuth, func(c *Counters) uint64 { return c.Auth }},
		{"unknown opcode", func(t *testing.T, s *Sealer, _ *Keyring) []byte {
			b := AppendHeader(make([]byte, 0, 64), &Header{Op: 0x99, Target: memberB})
			f, err := s.Seal(b)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, ErrUnknownOpcode, func(c *Counters) uint64 { return c.UnknownOpcode }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, o, ring := pair(t)
			f := tc.frame(t, s, ring)
			_, err := o.Open(f)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			c := o.Counters()
			if tc.count(&c) != 1 || c.Rejected() != 1 || c.Opened != 0 {
				t.Fatalf("counters %+v", c)
			}
		})
	}
}

// TestReplayAndEpoch: a frame accepted once is a replay the second time;
// a sender's older epoch is rejected once a newer one authenticated; a
// newer epoch starts a fresh window.
func TestReplayAndEpoch(t *testing.T) {
	s, o, ring := pair(t)
	f := heartbeatFrame(t, s)
	keep := append([]byte(nil), f...)
	if _, err := o.Open(f); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(append([]byte(nil), keep...)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	s2, _ := NewSealer(ring, testCluster, memberA, testEpoch+1) // the sender restarted
	if _, err := o.Open(heartbeatFrame(t, s2)); err != nil {
		t.Fatalf("first frame of a new epoch: %v", err)
	}
	if _, err := o.Open(heartbeatFrame(t, s)); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("old epoch after the new one: %v", err)
	}
	c := o.Counters()
	if c.Opened != 2 || c.Replay != 1 || c.StaleEpoch != 1 || c.Rejected() != 2 {
		t.Fatalf("counters %+v", c)
	}
}

// TestModifiedByte: flipping any bit of any byte of a sealed frame (header,
// body or tag) gets it rejected, and nothing is accepted.
func TestModifiedByte(t *testing.T) {
	s, o, _ := pair(t)
	f := deltaFrame(t, s, 1472, sampleRecords())
	for i := range f {
		for _, bit := range []byte{0x01, 0x80} {
			g := append([]byte(nil), f...)
			g[i] ^= bit
			if fr, err := o.Open(g); err == nil {
				t.Fatalf("byte %d ^ %#x accepted: %+v", i, bit, fr.Header)
			}
		}
	}
	if c := o.Counters(); c.Opened != 0 || c.Rejected() != uint64(2*len(f)) {
		t.Fatalf("counters %+v", c)
	}
	if _, err := o.Open(f); err != nil {
		t.Fatalf("the original after all that: %v", err)
	}
}

// TestTruncation: a frame cut at every length is ErrTruncated.
func TestTruncation(t *testing.T) {
	s, o, _ := pair(t)
	f := deltaFrame(t, s, 1472, sampleRecords())
	for n := 0; n < len(f); n++ {
		if _, err := o.Open(append([]byte(nil), f[:n]...)); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut to %d of %d: %v", n, len(f), err)
		}
	}
	if c := o.Counters(); c.Truncated != uint64(len(f)) || c.Rejected() != c.Truncated {
		t.Fatalf("counters %+v", c)
	}
}

// TestSeal: Seal's own failures.
func TestSeal(t *testing.T) {
	s, o, _ := pair(t)
	s.SetSeq(MaxSeq)
	f := heartbeatFrame(t, s)
	if fr, err := o.Open(f); err != nil || fr.Seq != MaxSeq {
		t.Fatalf("frame MaxSeq: %v", err)
	}
	if _, err := s.Seal(AppendHeader(nil, &Header{Op: OpHeartbeat})); !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("after MaxSeq: %v", err)
	}
	empty, _ := NewSealer(NewKeyring(), testCluster, memberA, 1)
	if _, err := empty.Seal(AppendHeader(nil, &Header{Op: OpHeartbeat})); !errors.Is(err, ErrNoKey) {
		t.Fatalf("empty ring: %v", err)
	}
	if _, err := s.Seal(make([]byte, HeaderSize-1)); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("short frame: %v", err)
	}
	if _, err := NewSealer(NewKeyring(), testCluster, 0, 1); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("member 0: %v", err)
	}
	h, err := ParseHeader(f)
	if err != nil || h.Op != OpHeartbeat || h.Seq != MaxSeq || h.Sender != memberA {
		t.Fatalf("ParseHeader: %+v, %v", h, err)
	}
	if _, err := ParseHeader(f[:HeaderSize-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("ParseHeader of a short frame: %v", err)
	}
	w := NewFrameWriter(s, 1472)
	if ok, err := w.Add(&[]conntrack.Record{newConnV4(0)}[0]); ok || !errors.Is(err, ErrFrameSize) {
		t.Fatalf("Add before Begin: %v, %v", ok, err)
	}
	if got := MaxFrameSize(1500, false); got != 1472 {
		t.Fatalf("MaxFrameSize(1500) = %d", got)
	}
	if got := MaxFrameSize(9000, true); got != 8952 {
		t.Fatalf("MaxFrameSize(9000, ipv6) = %d", got)
	}
	if got := MaxFrameSize(60, false); got != 0 {
		t.Fatalf("MaxFrameSize(60) = %d", got)
	}
}
