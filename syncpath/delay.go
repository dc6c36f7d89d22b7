package syncpath

import "github.com/tandem-gw/tandem/dataplane/conntrack"

// delayer implements delayed notifications: the New record of a
// connection younger than Config.Delay is held back until the connection
// is that old; updates of a held connection merge into it (newest version
// wins), and a delete while it is held drops both, so a short-lived
// connection costs the sync link nothing.
//
// Age is measured on the table's clock from the record's version, which
// conntrack starts at the creating table's clock in nanoseconds: the same
// rule decides when a held record is released and whether a snapshot
// includes the connection (addChunkRecord), so every connection reaches
// the backup exactly once, by one path or the other.
//
// Held records wait in a FIFO in release order (records are drained in
// creation order, and the delay is the same for all). Not safe for
// concurrent use (the sync worker's).
type delayer struct {
	delay int64
	q     []held
	head  int
	base  uint64                   // absolute position of q[0]
	idx   map[conntrack.Key]uint64 // held key -> absolute position
}

type held struct {
	rec  conntrack.Record
	at   int64 // release time, table clock
	gone bool  // deleted while held: never sent
}

func newDelayer(delay int64) *delayer {
	return &delayer{delay: delay, idx: make(map[conntrack.Key]uint64, 1024)}
}

// young reports whether a connection of version v is younger than the
// delay at table time tnow.
func (d *delayer) young(v uint64, tnow int64) bool { return tnow-int64(v) < d.delay }

// offer takes r if it belongs to a held connection or starts one, and
// reports whether it did; suppressed is true when r was a delete that
// cancelled a held connection.
func (d *delayer) offer(r *conntrack.Record, tnow int64, waiting bool) (taken, suppressed bool) {
	if pos, ok := d.idx[r.Key]; ok {
		h := &d.q[pos-d.base]
		if r.Op == conntrack.OpDelete {
			h.gone = true
			delete(d.idx, r.Key)
			return true, true
		}
		if r.Version > h.rec.Version {
			h.rec = *r
			h.rec.Op = conntrack.OpNew
		}
		return true, false
	}
	if r.Op != conntrack.OpNew || waiting || !d.young(r.Version, tnow) {
		return false, false
	}
	if d.head > 0 && d.head == len(d.q) {
		d.base += uint64(d.head)
		d.q, d.head = d.q[:0], 0
	} else if d.head >= 1024 && d.head > len(d.q)/2 {
		n := copy(d.q, d.q[d.head:])
		d.base += uint64(d.head)
		d.q, d.head = d.q[:n], 0
	}
	d.idx[r.Key] = d.base + uint64(len(d.q))
	d.q = append(d.q, held{rec: *r, at: int64(r.Version) + d.delay})
	return true, false
}

// release hands every held record due at table time tnow to fn.
func (d *delayer) release(tnow int64, fn func(*conntrack.Record)) {
	for d.head < len(d.q) && d.q[d.head].at <= tnow {
		h := &d.q[d.head]
		d.head++
		if h.gone {
			continue
		}
		delete(d.idx, h.rec.Key)
		fn(&h.rec)
	}
}

// len returns the records held.
func (d *delayer) len() int { return len(d.idx) }
