package ccp

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// Golden vectors live in testdata/<name>.hex: the plaintext frame (header
// and body before sealing) and the sealed frame, as hex. Regenerate them
// after a deliberate change of the wire format with
//
//	go test ./syncpath/ccp -run Golden -update
//
// and review the diff: a changed vector means a changed protocol.
var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/")

// goldenVector is one frame of the golden set: how to seal it, and what
// decoding it must give back.
type goldenVector struct {
	name string
	seq  uint64
	seal func(t *testing.T, s *Sealer) []byte
	body any // the decoded body: a Body, or []conntrack.Record (plus chunk)
}

func goldenVectors() []goldenVector {
	recs := sampleRecords()
	hb := &Heartbeat{Role: RoleActive, Priority: 100, Status: StatusReady | StatusSynced, Conns: 1234,
		Time: 0x0123456789abcdef, Echo: 0x0123456789ab0000}
	ack := &Ack{Ranges: []NackRange{{43, 44}, {47, 47}}}
	req := &FullSyncRequest{Reason: ReasonBoot, Session: 0x0badcafe}
	done := &FullSyncDone{Session: 0x0badcafe, Chunks: 1, Records: 2, Digest: 0xfeedfacecafebeef}
	role := &RoleClaim{Action: RoleClaimActive, Priority: 100, Term: 9}
	msg := func(m Body, h Header) func(*testing.T, *Sealer) []byte {
		return func(t *testing.T, s *Sealer) []byte {
			f, err := s.SealMessage(make([]byte, 0, 256), h, m)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	records := func(h Header, rs []conntrack.Record, chunk *FullSyncChunk) func(*testing.T, *Sealer) []byte {
		return func(t *testing.T, s *Sealer) []byte {
			w := NewFrameWriter(s, 1472)
			if err := w.Begin(make([]byte, 0, 1472), h); err != nil {
				t.Fatal(err)
			}
			for i := range rs {
				if ok, err := w.Add(&rs[i]); !ok {
					t.Fatal(err)
				}
			}
			if chunk != nil {
				w.SetChunk(*chunk)
			}
			f, err := w.Seal()
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	ackH := Header{Target: memberB, Flags: FlagAck, Ack: 41}
	chunk := &FullSyncChunk{Session: 0x0badcafe, Index: 0, Cursor: 512}
	return []goldenVector{
		{"heartbeat", 1, msg(hb, ackH), hb},
		{"delta", 2, records(Header{Op: OpDelta, Target: memberB, Flags: FlagAck, DataSeq: 42, Ack: 41}, recs, nil), recs},
		{"ack", 3, msg(ack, Header{Target: memberB, Flags: FlagAck, Ack: 42}), ack},
		{"fullsync-request", 4, msg(req, Header{Target: memberB}), req},
		{"fullsync-chunk", 5, records(Header{Op: OpFullSyncChunk, Target: memberB, DataSeq: 43}, recs[:2], chunk), chunk},
		{"fullsync-done", 6, msg(done, Header{Target: memberB, DataSeq: 44}), done},
		{"role", 7, msg(role, Header{}), role},
	}
}

// writeHex formats b 16 bytes a line, with the offset as a comment.
func writeHex(sb *strings.Builder, b []byte) {
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		var parts []string
		for i := 0; i < len(line); i += 2 {
			parts = append(parts, hex.EncodeToString(line[i:min(i+2, len(line))]))
		}
		fmt.Fprintf(sb, "%-40s # %04x\n", strings.Join(parts, " "), off)
	}
}

// readGolden parses a vector file into its plain and sealed frames.
func readGolden(data []byte) (plain, sealed []byte, err error) {
	var cur *[]byte
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		switch line {
		case "":
			continue
		case "plain:":
			cur = &plain
			continue
		case "sealed:":
			cur = &sealed
			continue
		}
		if cur == nil {
			return nil, nil, fmt.Errorf("line %d: hex before \"plain:\" or \"sealed:\"", i+1)
		}
		b, err := hex.DecodeString(strings.ReplaceAll(line, " ", ""))
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		*cur = append(*cur, b...)
	}
	return plain, sealed, nil
}

// goldenFrame seals v from a fresh sender and returns the sealed frame and
// the plaintext (the sealed header and the body before encryption).
func goldenFrame(t *testing.T, v goldenVector) (plain, sealed []byte) {
	s, o, _ := pair(t)
	s.SetSeq(v.seq)
	sealed = v.seal(t, s)
	c := append([]byte(nil), sealed...)
	fr, err := o.Open(c)
	if err != nil {
		t.Fatalf("%s: opening our own frame: %v", v.name, err)
	}
	plain = append(append([]byte(nil), sealed[:HeaderSize]...), fr.Body...)
	return plain, sealed
}

// TestGolden: encoding each vector gives exactly the bytes in testdata, and
// opening and decoding the golden bytes gives the vector back.
func TestGolden(t *testing.T) {
	for _, v := range goldenVectors() {
		path := filepath.Join("testdata", v.name+".hex")
		plain, sealed := goldenFrame(t, v)
		if *update {
			var sb strings.Builder
			var h Header
			h.get(plain)
			fmt.Fprintf(&sb, "# CCP golden vector: %s. Sender member %d, target %d, cluster %d, epoch %#x, seq %d,\n",
				v.name, h.Sender, h.Target, h.Cluster, h.Epoch, h.Seq)
			fmt.Fprintf(&sb, "# key id 1 = aes-256-gcm 000102…1f. Regenerate: go test ./syncpath/ccp -run Golden -update\n")
			sb.WriteString("plain:\n")
			writeHex(&sb, plain)
			sb.WriteString("sealed:\n")
			writeHex(&sb, sealed)
			if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		wantPlain, wantSealed, err := readGolden(data)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !bytes.Equal(plain, wantPlain) || !bytes.Equal(sealed, wantSealed) {
			t.Errorf("%s: encoding differs from %s\nplain  %x\nwant   %x\nsealed %x\nwant   %x",
				v.name, path, plain, wantPlain, sealed, wantSealed)
			continue
		}
		// Decode the golden bytes.
		_, o, _ := pair(t)
		fr, err := o.Open(append([]byte(nil), wantSealed...))
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if !bytes.Equal(wantPlain[HeaderSize:], fr.Body) {
			t.Fatalf("%s: opened body %x, want %x", v.name, fr.Body, wantPlain[HeaderSize:])
		}
		var got any
		switch want := v.body.(type) {
		case []conntrack.Record:
			got, err = DecodeRecords(nil, fr.Body, int(fr.Count))
		default:
			p := reflect.New(reflect.TypeOf(want).Elem())
			err = p.Interface().(interface{ Decode(*Frame) error }).Decode(&fr)
			got = p.Interface()
		}
		if err != nil || !reflect.DeepEqual(got, v.body) {
			t.Fatalf("%s: decoded %+v, %v; want %+v", v.name, got, err, v.body)
		}
	}
}
