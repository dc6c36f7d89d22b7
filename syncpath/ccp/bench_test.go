package ccp

import (
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// benchCases are the frame sizes and record kinds of the benchmarks: a
// full DELTA frame of new connections at MTU 1500 and 9000 over IPv4.
var benchCases = []struct {
	name string
	mtu  int
	gen  func(int) conntrack.Record
}{
	{"ipv4/mtu1500", 1500, newConnV4},
	{"ipv4/mtu9000", 9000, newConnV4},
	{"ipv6/mtu1500", 1500, newConnV6},
	{"ipv6/mtu9000", 9000, newConnV6},
}

// fullFrameRecords returns enough records of gen to fill a frame of max.
func fullFrameRecords(b *testing.B, max int, gen func(int) conntrack.Record) []conntrack.Record {
	n, _ := frameFill(b, max, gen)
	recs := make([]conntrack.Record, n)
	for i := range recs {
		recs[i] = gen(i)
	}
	return recs
}

// BenchmarkSealDelta packs a full DELTA frame of new-connection records and
// seals it (AES-256-GCM).
func BenchmarkSealDelta(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			max := MaxFrameSize(bc.mtu, false)
			recs := fullFrameRecords(b, max, bc.gen)
			s, _, _ := pair(b)
			w := NewFrameWriter(s, max)
			buf := make([]byte, 0, max)
			var size int
			b.SetBytes(int64(max))
			b.ReportAllocs()
			for b.Loop() {
				_ = w.Begin(buf, Header{Op: OpDelta, Target: memberB, DataSeq: 1})
				for i := range recs {
					w.Add(&recs[i])
				}
				f, err := w.Seal()
				if err != nil {
					b.Fatal(err)
				}
				size = len(f)
			}
			reportRecords(b, len(recs), max, size)
		})
	}
}

// BenchmarkOpenDelta opens a full DELTA frame and decodes its records.
func BenchmarkOpenDelta(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			max := MaxFrameSize(bc.mtu, false)
			recs := fullFrameRecords(b, max, bc.gen)
			s, o, _ := pair(b)
			sealed := deltaFrame(b, s, max, recs)
			work := make([]byte, len(sealed))
			var r conntrack.Record
			b.SetBytes(int64(max))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, sealed)
				o.Forget(memberA) // the same frame every time: reset the replay window
				fr, err := o.Open(work)
				if err != nil {
					b.Fatal(err)
				}
				rr, _ := fr.Records()
				for {
					ok, err := rr.Next(&r)
					if err != nil {
						b.Fatal(err)
					}
					if !ok {
						break
					}
				}
			}
			reportRecords(b, len(recs), max, len(sealed))
		})
	}
}

// reportRecords reports records/s, B/record (the whole UDP payload budget
// of the frame size, the amortised on-wire cost) and records/frame.
func reportRecords(b *testing.B, n, max, size int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(max)/float64(n), "B/record")
	b.ReportMetric(float64(n), "records/frame")
	if size > max {
		b.Fatalf("frame of %d bytes, limit %d", size, max)
	}
}
