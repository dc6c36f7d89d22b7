package ccp

import (
	"math/rand/v2"
	"testing"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// Fixed identities and key of the tests and golden vectors.
const (
	testCluster = 7
	memberA     = 1          // the sender in most tests
	memberB     = 2          // the receiver
	testEpoch   = 0x6a3f1c00 // a boot epoch (Unix seconds, 2026)
)

// testKey is key id 1 of the tests: bytes 0x00..0x1f.
func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func testRing(tb testing.TB) *Keyring {
	tb.Helper()
	r := NewKeyring()
	if err := r.Add(1, AlgAES256GCM, testKey()); err != nil {
		tb.Fatal(err)
	}
	return r
}

// pair returns a Sealer of member A and an Opener of member B on one ring.
func pair(tb testing.TB) (*Sealer, *Opener, *Keyring) {
	tb.Helper()
	ring := testRing(tb)
	s, err := NewSealer(ring, testCluster, memberA, testEpoch)
	if err != nil {
		tb.Fatal(err)
	}
	return s, NewOpener(ring, testCluster, memberB), ring
}

func v4(a, b, c, d byte) (x [16]byte) {
	x[0], x[1], x[2], x[3] = a, b, c, d
	return x
}

func v6(last byte) [16]byte {
	return [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last}
}

// versionBase is a creation clock in nanoseconds (November 2026).
const versionBase = 1_795_000_000_000_000_000

// newConnV4 is the i-th of a burst of new IPv4 connections as a gateway
// syncs them: TCP established (synced after the delayed-notification
// delay), SNAT from a pool, window scales known, 12 hours minus 3 seconds
// to live, created 50 µs apart.
func newConnV4(i int) conntrack.Record {
	return conntrack.Record{
		Key: conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoTCP,
			v4(10, 1, byte(i>>8), byte(i)), v4(198, 51, 100, byte(i>>4)), uint16(32768+i), 443),
		NATAddr: v4(203, 0, 113, 7),
		NATPort: uint16(1024 + i*7),
		Version: versionBase + uint64(i)*50_000,
		Timeout: 43_197_000,
		Op:      conntrack.OpNew,
		State:   conntrack.StateEstablished,
		NAT:     conntrack.NATSource,
		NATRule: 0,
		Owner:   memberA,
		Flags:   conntrack.RecSeenReply | conntrack.RecAssured,
		WScale:  0x77,
	}
}

// newConnV6 is newConnV4 over IPv6 with SNAT to an IPv6 pool address.
func newConnV6(i int) conntrack.Record {
	r := newConnV4(i)
	src := v6(byte(i))
	src[13] = byte(i >> 8)
	r.Key = conntrack.MakeKey(conntrack.FamilyIPv6, conntrack.ProtoTCP, src, v6(0xfe), r.Key.SrcPort, 443)
	r.NATAddr = v6(0x77)
	r.NATAddr[1] = 0x02
	return r
}

// sampleRecords covers every family, op, NAT kind and optional field.
func sampleRecords() []conntrack.Record {
	a := newConnV4(1)
	b := newConnV6(2)
	b.Op, b.NAT, b.NATAddr, b.NATPort, b.NATRule = conntrack.OpUpdate, conntrack.NATDestination, v6(9), 8080, 3
	b.Version = versionBase - 5 // older than a: negative delta
	c := conntrack.Record{
		Key:     conntrack.MakeICMPKey(conntrack.FamilyIPv4, conntrack.ProtoICMP, v4(10, 1, 0, 9), v4(192, 0, 2, 1), 0x4242, false),
		Version: versionBase + 1_000_000, Timeout: 30_000, Op: conntrack.OpNew, State: conntrack.StateICMP, Owner: memberB,
	}
	d := conntrack.Record{
		Key:     conntrack.MakeKey(conntrack.FamilyIPv4, conntrack.ProtoUDP, v4(10, 1, 0, 10), v4(192, 0, 2, 53), 5353, 53),
		Version: versionBase + 1_000_001, Op: conntrack.OpDelete, State: conntrack.StateUDPReplied, Owner: memberA,
		Flags: conntrack.RecSeenReply,
	}
	return []conntrack.Record{a, b, c, d}
}

// randRecord returns a random record in the canonical form conntrack emits.
func randRecord(rng *rand.Rand) conntrack.Record {
	var r conntrack.Record
	fam, alen := uint8(conntrack.FamilyIPv4), 4
	if rng.IntN(2) == 0 {
		fam, alen = conntrack.FamilyIPv6, 16
	}
	var src, dst [16]byte
	for i := 0; i < alen; i++ {
		src[i], dst[i] = byte(rng.Uint32()), byte(rng.Uint32())
	}
	r.Key = conntrack.MakeKey(fam, uint8(rng.Uint32()), src, dst, uint16(rng.Uint32()), uint16(rng.Uint32()))
	r.Op = conntrack.Op(1 + rng.IntN(3))
	r.State = conntrack.State(rng.IntN(16))
	r.Flags = uint8(rng.IntN(16))
	r.Owner = uint8(rng.Uint32())
	if rng.IntN(3) > 0 {
		r.WScale = uint8(rng.Uint32())
	}
	switch rng.IntN(4) {
	case 0:
		r.Version = rng.Uint64()
	case 1:
		r.Version = uint64(rng.IntN(1000))
	default:
		r.Version = versionBase + uint64(rng.IntN(1<<30))
	}
	if rng.IntN(4) > 0 {
		r.Timeout = rng.Uint32() >> rng.IntN(32)
	}
	r.NAT = conntrack.NATKind(rng.IntN(3))
	if r.NAT != conntrack.NATNone {
		for i := 0; i < alen; i++ {
			r.NATAddr[i] = byte(rng.Uint32())
		}
		r.NATPort = uint16(rng.Uint32())
		r.NATRule = uint8(rng.Uint32())
	}
	return r
}

// deltaFrame seals recs (which must fit) as one DELTA frame from s.
func deltaFrame(tb testing.TB, s *Sealer, maxFrame int, recs []conntrack.Record) []byte {
	tb.Helper()
	w := NewFrameWriter(s, maxFrame)
	if err := w.Begin(make([]byte, 0, maxFrame), Header{Op: OpDelta, Target: memberB, DataSeq: 1}); err != nil {
		tb.Fatal(err)
	}
	for i := range recs {
		if ok, err := w.Add(&recs[i]); !ok {
			tb.Fatalf("record %d: full or %v", i, err)
		}
	}
	f, err := w.Seal()
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// heartbeatFrame seals a heartbeat from s.
func heartbeatFrame(tb testing.TB, s *Sealer) []byte {
	tb.Helper()
	f, err := s.SealMessage(make([]byte, 0, 128), Header{Target: memberB},
		&Heartbeat{Role: RoleActive, Priority: 100, Status: StatusReady, Conns: 12, Time: 99})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}
