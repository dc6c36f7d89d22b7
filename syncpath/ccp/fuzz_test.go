package ccp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// goldenSeeds returns the plain and sealed frames of every golden vector.
func goldenSeeds(f *testing.F) (plains, sealeds [][]byte) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if len(files) == 0 {
		f.Fatal("no golden vectors in testdata")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		p, s, err := readGolden(data)
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		plains, sealeds = append(plains, p), append(sealeds, s)
	}
	return plains, sealeds
}

// decodeAll runs every decoder that applies to an opened frame; none may
// panic, and a DELTA or chunk decodes to at most Count records.
func decodeAll(t *testing.T, fr *Frame) {
	var (
		hb   Heartbeat
		ack  Ack
		req  FullSyncRequest
		ch   FullSyncChunk
		done FullSyncDone
		role RoleClaim
	)
	for _, d := range []interface{ Decode(*Frame) error }{&hb, &ack, &req, &ch, &done, &role} {
		_ = d.Decode(fr)
	}
	if rr, err := fr.Records(); err == nil {
		var r conntrack.Record
		n := 0
		for {
			ok, err := rr.Next(&r)
			if !ok {
				_ = err
				break
			}
			n++
		}
		if n > int(fr.Count) {
			t.Fatalf("%d records from a count of %d", n, fr.Count)
		}
	}
}

// FuzzOpen feeds arbitrary bytes to Open (only errors, no panic, nothing
// accepted that was not sealed with the key), and the same bytes as a
// plaintext frame through Seal and Open to reach the body decoders.
func FuzzOpen(f *testing.F) {
	plains, sealeds := goldenSeeds(f)
	for i := range plains {
		f.Add(sealeds[i])
		f.Add(plains[i])
	}
	ring := testRing(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		o := NewOpener(ring, testCluster, memberB)
		raw := append([]byte(nil), b...)
		fr, err := o.Open(raw)
		if err == nil {
			decodeAll(t, &fr)
		} else if c := o.Counters(); c.Rejected() != 1 {
			t.Fatalf("rejected (%v) but counters %+v", err, c)
		}
		// As a plaintext frame: seal it under a valid header, open, decode.
		if len(b) < HeaderSize || len(b) > HeaderSize+MaxPayload {
			return
		}
		s, _ := NewSealer(ring, testCluster, memberA, testEpoch+1)
		frame := append(make([]byte, 0, len(b)+TagSize), b...)
		frame[offTarget] = memberB
		sealed, err := s.Seal(frame)
		if err != nil {
			t.Fatal(err)
		}
		fr, err = o.Open(sealed)
		if err != nil {
			if Opcode(b[offOp]).Known() {
				t.Fatalf("our own sealed frame rejected: %v", err)
			}
			return
		}
		decodeAll(t, &fr)
	})
}

// FuzzDecodeRecords feeds arbitrary bytes and counts to the record
// decoder: errors only, and whatever decodes re-encodes to a record that
// decodes equal.
func FuzzDecodeRecords(f *testing.F) {
	plains, _ := goldenSeeds(f)
	for _, p := range plains {
		var h Header
		h.get(p)
		body := p[HeaderSize:]
		if h.Op == OpFullSyncChunk {
			body = body[FullSyncChunkSize:]
		}
		f.Add(body, h.Count)
	}
	f.Fuzz(func(t *testing.T, b []byte, count uint16) {
		var rr RecordReader
		rr.Reset(b, int(count))
		var r conntrack.Record
		for {
			ok, err := rr.Next(&r)
			if !ok {
				_ = err
				return
			}
			if r.Key.Family != conntrack.FamilyIPv4 && r.Key.Family != conntrack.FamilyIPv6 {
				t.Fatalf("decoded family %d", r.Key.Family)
			}
			enc, err := AppendRecord(nil, &r, 0)
			if err != nil {
				t.Fatalf("decoded record %+v does not encode: %v", r, err)
			}
			back, err := DecodeRecords(nil, enc, 1)
			if err != nil || len(back) != 1 || back[0] != r {
				t.Fatalf("re-encoded %+v decodes to %+v, %v", r, back, err)
			}
		}
	})
}
