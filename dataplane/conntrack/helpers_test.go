package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/internal/clock"
	"github.com/tandem-gw/tandem/ring"
)

// The real ring satisfies RecordSink.
var _ RecordSink = (*ring.MPSC[Record])(nil)

func ip4(a, b, c, d byte) [16]byte { return [16]byte{a, b, c, d} }

func tcpKey(src [16]byte, sport uint16, dst [16]byte, dport uint16) Key {
	return MakeKey(FamilyIPv4, ProtoTCP, src, dst, sport, dport)
}

func udpKey(src [16]byte, sport uint16, dst [16]byte, dport uint16) Key {
	return MakeKey(FamilyIPv4, ProtoUDP, src, dst, sport, dport)
}

// testTable builds a table with a manual clock and a record ring.
func testTable(t testing.TB, cfg Config) (*Table, *clock.Manual, *ring.MPSC[Record]) {
	t.Helper()
	clk := clock.NewManual(int64(time.Hour))
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	var r *ring.MPSC[Record]
	if cfg.Records == nil {
		var err error
		r, err = ring.NewMPSC[Record](1 << 14)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Records = r
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 1024
	}
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb, clk, r
}

func drain(r *ring.MPSC[Record]) []Record {
	var out []Record
	for {
		rec, ok := r.Dequeue()
		if !ok {
			return out
		}
		out = append(out, rec)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// conn drives both directions of one TCP connection through a table.
type conn struct {
	t        testing.TB
	tb       *Table
	fwd, rev Key // as the packets carry them (rev already translated back)
	cseq     uint32
	sseq     uint32
}

func (c *conn) send(d Dir, flags uint8, n uint16) Result {
	c.t.Helper()
	seg := Segment{Flags: flags, Window: 65535, PayloadLen: n, WScale: NoWScale}
	k := c.fwd
	if d == DirOriginal {
		seg.Seq, seg.Ack = c.cseq, c.sseq
		c.cseq += uint32(n)
		if flags&(FlagSYN|FlagFIN) != 0 {
			c.cseq++
		}
	} else {
		k = c.rev
		seg.Seq, seg.Ack = c.sseq, c.cseq
		c.sseq += uint32(n)
		if flags&(FlagSYN|FlagFIN) != 0 {
			c.sseq++
		}
	}
	if flags&FlagACK == 0 {
		seg.Ack = 0
	}
	return c.tb.Track(k, seg, NATRequest{})
}

func (c *conn) handshake() {
	c.t.Helper()
	for _, st := range []struct {
		d     Dir
		flags uint8
		want  State
	}{
		{DirOriginal, FlagSYN, StateSynSent},
		{DirReply, FlagSYN | FlagACK, StateSynRecv},
		{DirOriginal, FlagACK, StateEstablished},
	} {
		if r := c.send(st.d, st.flags, 0); r.Verdict != Accept || r.State != st.want {
			c.t.Fatalf("handshake %v flags %#x: %v %v, want accept %v", st.d, st.flags, r.Verdict, r.State, st.want)
		}
	}
}
