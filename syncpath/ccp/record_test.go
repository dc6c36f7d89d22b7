package ccp

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// TestRecordRoundTrip is a property test: random canonical records,
// chained in bodies of random length, decode to exactly what was encoded,
// and RecordSize predicts every encoding's length.
func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var body []byte
	var want, got []conntrack.Record
	for iter := 0; iter < 2000; iter++ {
		body, want = body[:0], want[:0]
		prev := uint64(0)
		for n := rng.IntN(20); n > 0; n-- {
			r := randRecord(rng)
			size := RecordSize(&r, prev)
			before := len(body)
			var err error
			if body, err = AppendRecord(body, &r, prev); err != nil {
				t.Fatalf("AppendRecord(%+v): %v", r, err)
			}
			if len(body)-before != size || size > MaxConnRecord {
				t.Fatalf("record %+v: %d bytes, RecordSize %d, max %d", r, len(body)-before, size, MaxConnRecord)
			}
			want = append(want, r)
			prev = r.Version
		}
		var err error
		if got, err = DecodeRecords(got[:0], body, len(want)); err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		if len(got) != len(want) {
			t.Fatalf("iteration %d: %d records, want %d", iter, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("iteration %d record %d:\n got %+v\nwant %+v", iter, i, got[i], want[i])
			}
		}
	}
}

// TestRecordInvalid shows what AppendRecord refuses.
func TestRecordInvalid(t *testing.T) {
	for name, mutate := range map[string]func(r *conntrack.Record){
		"op 0":      func(r *conntrack.Record) { r.Op = 0 },
		"op 4":      func(r *conntrack.Record) { r.Op = 4 },
		"nat 3":     func(r *conntrack.Record) { r.NAT = 3 },
		"family 0":  func(r *conntrack.Record) { r.Key.Family = 0 },
		"state 16":  func(r *conntrack.Record) { r.State = 16 },
		"flags 16":  func(r *conntrack.Record) { r.Flags = 16 },
		"family 41": func(r *conntrack.Record) { r.Key.Family = 41 },
	} {
		r := newConnV4(0)
		mutate(&r)
		b, err := AppendRecord(nil, &r, 0)
		if !errors.Is(err, ErrRecord) || len(b) != 0 || RecordSize(&r, 0) != 0 {
			t.Errorf("%s: %d bytes, %v; want ErrRecord", name, len(b), err)
		}
		w := NewFrameWriter(nil, 1472)
		if err := w.Begin(make([]byte, 0, 1472), Header{Op: OpDelta}); err != nil {
			t.Fatal(err)
		}
		if ok, err := w.Add(&r); ok || !errors.Is(err, ErrRecord) {
			t.Errorf("%s: FrameWriter.Add = %v, %v; want false, ErrRecord", name, ok, err)
		}
	}
}

// TestRecordSkipUnknown: a record of an unknown type is skipped by its
// length and counted; the records around it decode.
func TestRecordSkipUnknown(t *testing.T) {
	recs := sampleRecords()
	b, _ := AppendRecord(nil, &recs[0], 0)
	b = append(b, 0x42, 3, 1, 2, 3) // unknown type 0x42, 3 bytes
	b = append(b, 0x43, 0)          // unknown type, empty
	b, _ = AppendRecord(b, &recs[1], recs[0].Version)
	var rr RecordReader
	rr.Reset(b, 4)
	var got []conntrack.Record
	var r conntrack.Record
	for {
		ok, err := rr.Next(&r)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, r)
	}
	if len(got) != 2 || got[0] != recs[0] || got[1] != recs[1] || rr.Skipped() != 2 {
		t.Fatalf("got %d records (skipped %d), want the 2 known ones", len(got), rr.Skipped())
	}
}

// TestRecordExtension: bytes after the fields version 1 knows, inside the
// record's length, are ignored (fields are only ever appended).
func TestRecordExtension(t *testing.T) {
	recs := sampleRecords()
	b, _ := AppendRecord(nil, &recs[0], 0)
	b = append(b, 0xee, 0xee)
	b[1] += 2
	got, err := DecodeRecords(nil, b, 1)
	if err != nil || len(got) != 1 || got[0] != recs[0] {
		t.Fatalf("got %v, %v", got, err)
	}
}

// TestRecordMalformed: truncation at every length, wrong counts and bad
// field values are ErrMalformed, never a panic or a wrong record.
func TestRecordMalformed(t *testing.T) {
	recs := sampleRecords()
	var body []byte
	prev := uint64(0)
	for i := range recs {
		body, _ = AppendRecord(body, &recs[i], prev)
		prev = recs[i].Version
	}
	for n := 0; n < len(body); n++ {
		if _, err := DecodeRecords(nil, body[:n], len(recs)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("body cut to %d of %d bytes: %v, want ErrMalformed", n, len(body), err)
		}
	}
	for _, count := range []int{0, len(recs) - 1, len(recs) + 1} {
		if _, err := DecodeRecords(nil, body, count); !errors.Is(err, ErrMalformed) {
			t.Fatalf("count %d of %d: %v, want ErrMalformed", count, len(recs), err)
		}
	}
	one, _ := AppendRecord(nil, &recs[0], 0)
	for name, mutate := range map[string]func(b []byte){
		"type 0":        func(b []byte) { b[0] = 0 },
		"op 0":          func(b []byte) { b[2] &^= ctlOpMask },
		"nat 3":         func(b []byte) { b[2] |= ctlNATMask },
		"reserved bit":  func(b []byte) { b[2] |= ctlReserved },
		"ipv6 too long": func(b []byte) { b[2] |= ctlIPv6 },
		"length short":  func(b []byte) { b[1] = 3 },
		"length long":   func(b []byte) { b[1]++ },
		"varint runs":   func(b []byte) { b[len(b)-1] |= 0x80 },
	} {
		b := append([]byte(nil), one...)
		mutate(b)
		if _, err := DecodeRecords(nil, b, 1); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// A timeout above 2^32-1.
	r := recs[0]
	b, _ := AppendRecord(nil, &r, 0)
	b = b[:len(b)-4]
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0x7f)
	b[1]++
	if _, err := DecodeRecords(nil, b, 1); !errors.Is(err, ErrMalformed) {
		t.Errorf("timeout 2^35-1: %v, want ErrMalformed", err)
	}
}

// frameFill returns how many records of gen fit in one DELTA frame of
// maxFrame bytes and the frame's size.
func frameFill(tb testing.TB, maxFrame int, gen func(int) conntrack.Record) (n, size int) {
	s, _, _ := pair(tb)
	w := NewFrameWriter(s, maxFrame)
	if err := w.Begin(make([]byte, 0, maxFrame), Header{Op: OpDelta, Target: memberB, DataSeq: 1}); err != nil {
		tb.Fatal(err)
	}
	for i := 0; ; i++ {
		r := gen(i)
		ok, err := w.Add(&r)
		if err != nil {
			tb.Fatal(err)
		}
		if !ok {
			break
		}
	}
	f, err := w.Seal()
	if err != nil {
		tb.Fatal(err)
	}
	return w.Records(), len(f)
}

// TestBytesPerRecord measures the on-wire cost of a new-connection record,
// amortised over a full frame, against the bar of issue 6: at most 40 bytes
// per IPv4 record at MTU 1500 (the whole UDP payload of 1472 bytes divided
// by the records in it), less with jumbo frames.
func TestBytesPerRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(int) conntrack.Record
		mtu  int
		max  float64
	}{
		{"ipv4/mtu1500", newConnV4, 1500, 40},
		{"ipv4/mtu9000", newConnV4, 9000, 36},
		{"ipv6/mtu1500", newConnV6, 1500, 80},
		{"ipv6/mtu9000", newConnV6, 9000, 76},
	} {
		maxFrame := MaxFrameSize(tc.mtu, false)
		n, size := frameFill(t, maxFrame, tc.gen)
		one := tc.gen(1)
		prev := tc.gen(0).Version
		per := float64(maxFrame) / float64(n)
		t.Logf("%s: record %d B (first in a frame %d B), %d records in a %d-byte frame of %d: %.2f B/record (%.2f B/record counting IP+UDP)",
			tc.name, RecordSize(&one, prev), RecordSize(&one, 0), n, size, maxFrame, per, float64(tc.mtu)/float64(n))
		if per > tc.max {
			t.Errorf("%s: %.2f B/record, want at most %.0f", tc.name, per, tc.max)
		}
	}
}
