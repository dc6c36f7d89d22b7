package ccp

import (
	"encoding/binary"
	"math"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
)

// Record types: the first byte of every record. A decoder skips a record
// of a type it does not know (using the length byte), so new types can be
// added without a version bump.
const (
	RecConn = 0x01 // one conntrack.Record (a connection delta)
)

// Record encoding sizes.
const (
	recHeader   = 2  // type, length of the rest
	connFixed   = 4  // ctl, state|flags, proto, owner
	maxVarint64 = 10 // binary.MaxVarintLen64
	maxVarint32 = 5  // a uint32 as uvarint
	// MaxRecordLen is the largest record of any type: the length byte
	// counts up to 255 bytes after the type and itself.
	MaxRecordLen = recHeader + 255
	// MaxConnRecord is the largest RecConn record: IPv6 with NAT, a window
	// scale, a 10-byte version delta and a 5-byte timeout.
	MaxConnRecord = recHeader + connFixed + 2*16 + 4 + 16 + 3 + 1 + maxVarint64 + maxVarint32
)

// ctl byte of a RecConn record.
const (
	ctlOpMask   = 0x03 // bits 0-1: conntrack.Op (1 new, 2 update, 3 delete)
	ctlIPv6     = 0x04 // bit 2: addresses are 16 bytes (else 4)
	ctlNATShift = 3    // bits 3-4: conntrack.NATKind
	ctlNATMask  = 0x18
	ctlTimeout  = 0x20 // bit 5: a timeout varint follows the version
	ctlWScale   = 0x40 // bit 6: a window-scale byte follows the NAT fields
	ctlReserved = 0x80 // bit 7: 0 in version 1; set means malformed
)

// connSize returns the encoded size of r after a record of version prev,
// or 0 if r cannot be encoded (see AppendRecord).
func connSize(r *conntrack.Record, prev uint64) int {
	if r.Op < conntrack.OpNew || r.Op > conntrack.OpDelete || r.NAT > conntrack.NATDestination ||
		r.State > 0x0f || r.Flags > 0x0f {
		return 0
	}
	alen := 4
	switch r.Key.Family {
	case conntrack.FamilyIPv4:
	case conntrack.FamilyIPv6:
		alen = 16
	default:
		return 0
	}
	n := recHeader + connFixed + 2*alen + 4
	if r.NAT != conntrack.NATNone {
		n += alen + 3
	}
	if r.WScale != 0 {
		n++
	}
	n += uvarintLen(zigzag(r.Version - prev))
	if r.Timeout != 0 {
		n += uvarintLen(uint64(r.Timeout))
	}
	return n
}

// RecordSize returns the bytes r takes on the wire when it follows a record
// of version prev in the same body (0 for the first), or 0 if it cannot be
// encoded.
func RecordSize(r *conntrack.Record, prev uint64) int { return connSize(r, prev) }

// AppendRecord appends the RecConn encoding of r to b. prev is the version
// of the record before it in the same body, 0 for the first: the version is
// sent as a zigzag varint of the difference, so a burst of new connections
// costs 3 or 4 bytes of version each instead of 8.
//
// The encoding is exact for records as conntrack emits them: IPv4
// addresses in the first 4 bytes (the rest zero), and NAT address, port
// and rule zero when NAT is NATNone; other bytes are not sent. It returns
// ErrRecord (and b unchanged) for an Op, NAT kind or family out of range,
// or a State or Flags above 15.
func AppendRecord(b []byte, r *conntrack.Record, prev uint64) ([]byte, error) {
	n := connSize(r, prev)
	if n == 0 {
		return b, ErrRecord
	}
	alen := 4
	ctl := uint8(r.Op) | uint8(r.NAT)<<ctlNATShift
	if r.Key.Family == conntrack.FamilyIPv6 {
		alen = 16
		ctl |= ctlIPv6
	}
	if r.Timeout != 0 {
		ctl |= ctlTimeout
	}
	if r.WScale != 0 {
		ctl |= ctlWScale
	}
	b = append(b, RecConn, uint8(n-recHeader), ctl, uint8(r.State)|r.Flags<<4, r.Key.Proto, r.Owner)
	b = append(b, r.Key.Src[:alen]...)
	b = append(b, r.Key.Dst[:alen]...)
	b = be.AppendUint16(b, r.Key.SrcPort)
	b = be.AppendUint16(b, r.Key.DstPort)
	if r.NAT != conntrack.NATNone {
		b = append(b, r.NATAddr[:alen]...)
		b = be.AppendUint16(b, r.NATPort)
		b = append(b, r.NATRule)
	}
	if r.WScale != 0 {
		b = append(b, r.WScale)
	}
	b = binary.AppendUvarint(b, zigzag(r.Version-prev))
	if r.Timeout != 0 {
		b = binary.AppendUvarint(b, uint64(r.Timeout))
	}
	return b, nil
}

// RecordReader decodes the records of a DELTA or FULLSYNC_CHUNK body one at
// a time into a caller-owned Record, allocating nothing. Records of unknown
// types are skipped and counted. Get one from Frame.Records, or Reset it
// on a body's record bytes and the header's Count.
type RecordReader struct {
	b       []byte
	left    int    // records still to read, from the header's Count
	prev    uint64 // version of the last RecConn record
	skipped int
}

// Reset starts reading count records from b.
func (rr *RecordReader) Reset(b []byte, count int) {
	*rr = RecordReader{b: b, left: count}
}

// Skipped returns how many records of unknown types were skipped so far.
func (rr *RecordReader) Skipped() int { return rr.skipped }

// Next decodes the next connection record into r. It returns false and nil
// at the end of a well-formed body, false and ErrMalformed if a record is
// malformed or the body does not hold exactly Count records; r is then
// unspecified.
func (rr *RecordReader) Next(r *conntrack.Record) (bool, error) {
	for {
		if rr.left == 0 {
			if len(rr.b) != 0 {
				return false, ErrMalformed
			}
			return false, nil
		}
		if len(rr.b) < recHeader {
			return false, ErrMalformed
		}
		typ, n := rr.b[0], int(rr.b[1])
		if len(rr.b) < recHeader+n {
			return false, ErrMalformed
		}
		body := rr.b[recHeader : recHeader+n]
		rr.b = rr.b[recHeader+n:]
		rr.left--
		switch typ {
		case RecConn:
			if !rr.decodeConn(body, r) {
				rr.left, rr.b = 0, nil
				return false, ErrMalformed
			}
			return true, nil
		case 0:
			rr.left, rr.b = 0, nil
			return false, ErrMalformed
		default:
			rr.skipped++
		}
	}
}

// decodeConn decodes a RecConn body (after type and length). Bytes after
// the fields version 1 knows are ignored: fields are only ever appended.
func (rr *RecordReader) decodeConn(b []byte, r *conntrack.Record) bool {
	if len(b) < connFixed {
		return false
	}
	ctl := b[0]
	op := conntrack.Op(ctl & ctlOpMask)
	nat := conntrack.NATKind(ctl & ctlNATMask >> ctlNATShift)
	if op == 0 || nat > conntrack.NATDestination || ctl&ctlReserved != 0 {
		return false
	}
	alen, fam := 4, uint8(conntrack.FamilyIPv4)
	if ctl&ctlIPv6 != 0 {
		alen, fam = 16, conntrack.FamilyIPv6
	}
	need := connFixed + 2*alen + 4
	if nat != conntrack.NATNone {
		need += alen + 3
	}
	if ctl&ctlWScale != 0 {
		need++
	}
	if len(b) < need {
		return false
	}
	*r = conntrack.Record{Op: op, NAT: nat, State: conntrack.State(b[1] & 0x0f), Flags: b[1] >> 4}
	r.Key.Proto, r.Owner, r.Key.Family = b[2], b[3], fam
	p := connFixed
	p += copy(r.Key.Src[:alen], b[p:p+alen])
	p += copy(r.Key.Dst[:alen], b[p:p+alen])
	r.Key.SrcPort = be.Uint16(b[p:])
	r.Key.DstPort = be.Uint16(b[p+2:])
	p += 4
	if nat != conntrack.NATNone {
		p += copy(r.NATAddr[:alen], b[p:p+alen])
		r.NATPort = be.Uint16(b[p:])
		r.NATRule = b[p+2]
		p += 3
	}
	if ctl&ctlWScale != 0 {
		r.WScale = b[p]
		p++
	}
	d, n := binary.Uvarint(b[p:])
	if n <= 0 {
		return false
	}
	p += n
	r.Version = rr.prev + unzigzag(d)
	rr.prev = r.Version
	if ctl&ctlTimeout != 0 {
		t, n := binary.Uvarint(b[p:])
		if n <= 0 || t > math.MaxUint32 {
			return false
		}
		r.Timeout = uint32(t)
	}
	return true
}

// DecodeRecords appends the connection records of a body to dst: a
// convenience over RecordReader for callers that want a slice. It
// allocates only if dst runs out of capacity.
func DecodeRecords(dst []conntrack.Record, b []byte, count int) ([]conntrack.Record, error) {
	var rr RecordReader
	rr.Reset(b, count)
	var r conntrack.Record
	for {
		ok, err := rr.Next(&r)
		if !ok {
			return dst, err
		}
		dst = append(dst, r)
	}
}

func zigzag(d uint64) uint64   { return d<<1 ^ uint64(int64(d)>>63) }
func unzigzag(z uint64) uint64 { return z>>1 ^ -(z & 1) }

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
