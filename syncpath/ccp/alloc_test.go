package ccp

import (
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// TestNoAllocs proves the per-frame paths allocate nothing: packing and
// sealing a DELTA frame, opening it, and decoding its records into a
// caller-owned Record or slice.
func TestNoAllocs(t *testing.T) {
	s, o, _ := pair(t)
	const max = 1472
	buf := make([]byte, 0, max)
	recs := make([]conntrack.Record, 40)
	for i := range recs {
		recs[i] = newConnV4(i)
	}
	w := NewFrameWriter(s, max)
	var sealed []byte
	work := make([]byte, max)
	dst := make([]conntrack.Record, 0, len(recs))
	var r conntrack.Record
	var hb Heartbeat
	hbFrame := heartbeatFrame(t, s)
	hbWork := make([]byte, len(hbFrame))
	tests := []struct {
		name string
		fn   func()
	}{
		{"pack and seal DELTA", func() {
			_ = w.Begin(buf, Header{Op: OpDelta, Target: memberB, DataSeq: 1})
			for i := range recs {
				if ok, _ := w.Add(&recs[i]); !ok {
					t.Fatal("frame full")
				}
			}
			sealed, _ = w.Seal()
		}},
		{"open DELTA and read records", func() {
			o.Forget(memberA) // the same frame every run: no replay
			n := copy(work, sealed)
			fr, err := o.Open(work[:n])
			if err != nil {
				t.Fatal(err)
			}
			rr, _ := fr.Records()
			for {
				if ok, _ := rr.Next(&r); !ok {
					break
				}
			}
		}},
		{"decode records into a slice", func() {
			n := copy(work, sealed)
			o.Forget(memberA)
			fr, _ := o.Open(work[:n])
			dst, _ = DecodeRecords(dst[:0], fr.Body, int(fr.Count))
		}},
		{"open and decode a heartbeat", func() {
			copy(hbWork, hbFrame)
			o.Forget(memberA)
			fr, _ := o.Open(hbWork)
			if err := hb.Decode(&fr); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		tc.fn()
		if allocs := testing.AllocsPerRun(1000, tc.fn); allocs != 0 {
			t.Errorf("%s: %.1f allocations per run, want 0", tc.name, allocs)
		}
	}
	if len(dst) != len(recs) || dst[39] != recs[39] {
		t.Fatalf("decoded %d records", len(dst))
	}
}
