package conntrack

// Verdict is the outcome of Track for one packet. Every verdict but
// Accept is also counted in Stats.
type Verdict uint8

const (
	Accept       Verdict = iota // forward (applying Result.Rewrite)
	DropInvalid                 // the state machine or the window check refused it
	DropNoPickup                // TCP not starting with SYN, for a connection never seen
	DropFull                    // new connection, table full
	DropNAT                     // new connection, NAT pool exhausted
)

func (v Verdict) String() string {
	return [...]string{"accept", "invalid", "no-pickup", "full", "nat-exhausted", "?", "?", "?"}[v&7]
}

// Result is what Track tells the engine about one packet.
type Result struct {
	Rewrite Rewrite // NAT rewrite to apply before forwarding
	Ref     Ref
	Verdict Verdict
	Dir     Dir
	State   State // state after the packet
	New     bool  // the packet created the entry
}

// Track is the engine's per-packet call: it finds the connection k belongs
// to, runs the state machine for seg (TCP; ignored for other protocols),
// refreshes the timeout, emits a record when something that matters for
// failover changed, and returns the verdict and the NAT rewrite. For a
// connection never seen it creates the entry with the NAT mapping nat asks
// for (subject to TCPPickup). It allocates nothing.
func (t *Table) Track(k Key, seg Segment, nat NATRequest) Result {
	return t.track(&k, &seg, nat)
}

// track is Track; Track stays small enough to be inlined (see
// kwords.fromKey).
func (t *Table) track(k *Key, seg *Segment, nat NATRequest) Result {
	var kw kwords
	kw.fromKey(k)
	h := kw.hash(t.seed)
	for attempt := 0; attempt < 16; attempt++ {
		if res, ok := t.trackKnown(&kw, h, seg); ok {
			return res
		}
		res, again := t.trackNew(&kw, h, seg, nat)
		if !again {
			return res
		}
	}
	t.count(h, cDropInvalid)
	return Result{Verdict: DropInvalid}
}

// TrackKnown is Track for a connection that exists: it reports false, and
// creates nothing, when k belongs to none (or to one that has expired). The
// engine calls it where a new connection needs the policy's decision first,
// so that packets of known connections cost one lookup, not two.
func (t *Table) TrackKnown(k Key, seg Segment) (Result, bool) { return t.trackKnownKey(&k, &seg) }

func (t *Table) trackKnownKey(k *Key, seg *Segment) (Result, bool) {
	var kw kwords
	kw.fromKey(k)
	return t.trackKnown(&kw, kw.hash(t.seed), seg)
}

// trackKnown runs a packet through the entry kw names, if there is a live
// one.
func (t *Table) trackKnown(kw *kwords, h uint64, seg *Segment) (Result, bool) {
	for attempt := 0; attempt < 16; attempt++ {
		idx, gen, dir, ok := t.find(kw, h, false)
		if !ok {
			return Result{}, false
		}
		e := &t.entries[idx]
		e.lock()
		if e.gen.Load() != gen {
			e.unlock()
			continue
		}
		now := t.clk.Now()
		m := e.meta.Load()
		if m&fTomb != 0 || e.expires.Load() <= now {
			e.unlock()
			why := cExpired
			if m&fTomb != 0 {
				why = -1
			}
			t.remove(Ref{idx, gen}, true, why)
			continue
		}
		seg.Dir = dir
		res := t.update(e, m, seg, now, h)
		res.Ref = Ref{idx, gen}
		e.unlock()
		return res, true
	}
	t.count(h, cDropInvalid)
	return Result{Verdict: DropInvalid}, true
}

// trackNew creates the entry for a packet of an unknown connection.
// again reports a race with another inserter: look up again.
func (t *Table) trackNew(kw *kwords, h uint64, seg *Segment, nat NATRequest) (res Result, again bool) {
	now := t.clk.Now()
	nc := newConn{owner: t.cfg.Self, emit: true, dir: DirOriginal, now: now}
	switch kw.proto() {
	case ProtoTCP:
		st, ok := NextTCPState(StateNone, DirOriginal, seg.Flags)
		switch {
		case !ok:
			t.count(h, cDropInvalid)
			return Result{Verdict: DropInvalid}, false
		case st != StateSynSent && !t.cfg.TCPPickup:
			t.count(h, cDropNoPickup)
			return Result{Verdict: DropNoPickup}, false
		}
		nc.state = st
		seg.Dir = DirOriginal
		nc.seg = seg
		if st == StateSynSent {
			sc := uint64(0)
			if seg.WScale == NoWScale {
				nc.flags |= fNoScaleOrig
			} else {
				sc = uint64(min(seg.WScale, 14))
			}
			nc.scale = sc<<mScaleShift | scaleUnknown<<(mScaleShift+4)
		} else {
			nc.scale = scaleUnknown<<mScaleShift | scaleUnknown<<(mScaleShift+4)
		}
	case ProtoUDP:
		nc.state = StateUDPUnreplied
	case ProtoICMP, ProtoICMPv6:
		nc.state = StateICMP
	default:
		nc.state = StateGeneric
	}
	nc.expires = now + t.cfg.Timeouts.timeout(nc.state)
	if !t.setNAT(&nc, nat) {
		t.count(h, cDropNAT)
		return Result{Verdict: DropNAT}, false
	}
	ref, out := t.insert(kw, h, &nc)
	switch out {
	case outExists:
		return Result{}, true
	case outFull:
		return Result{Verdict: DropFull}, false
	case outNAT, outConflict:
		return Result{Verdict: DropNAT}, false
	}
	m := uint64(nc.nat)<<mNATShift | uint64(nc.natPort)<<mPortShift
	return Result{
		Rewrite: rewrite(kw, m, nc.natAddr, DirOriginal),
		Ref:     ref,
		Verdict: Accept,
		Dir:     DirOriginal,
		State:   nc.state,
		New:     true,
	}, false
}

// update runs one packet of a known connection. Precondition: e's lock
// held, e live and not expired.
func (t *Table) update(e *entry, m uint64, seg *Segment, now int64, h uint64) Result {
	d := seg.Dir
	st := metaState(m)
	nm := m
	ns := st
	switch {
	case st.IsTCP():
		next, ok := NextTCPState(st, d, seg.Flags)
		if !ok {
			t.count(h, cDropInvalid)
			return Result{Verdict: DropInvalid, Dir: d, State: st}
		}
		syn := seg.Flags&FlagSYN != 0
		switch {
		case syn && d == DirOriginal && next == StateSynSent && st != StateSynSent:
			// Reopened from TIME_WAIT or CLOSE: a new connection on the
			// same tuple. Forget the old window tracking.
			resetTCP(e)
			nm &^= fSeenReply | fAssured | fNoScaleOrig
			if seg.WScale == NoWScale {
				nm = withScale(withScale(nm|fNoScaleOrig, DirOriginal, 0), DirReply, scaleUnknown)
			} else {
				nm = withScale(withScale(nm, DirOriginal, min(seg.WScale, 14)), DirReply, scaleUnknown)
			}
			e.meta.Store(nm)
		case syn && d == DirReply && seg.Flags&FlagACK != 0 && (st == StateSynSent || st == StateSynSent2):
			// Window scaling is on only if both SYNs carried the option.
			if seg.WScale == NoWScale || nm&fNoScaleOrig != 0 {
				nm = withScale(withScale(nm, DirOriginal, 0), DirReply, 0)
			} else {
				nm = withScale(nm, DirReply, min(seg.WScale, 14))
			}
			e.meta.Store(nm)
		}
		ok, strict := t.tcpInWindow(e, d, seg)
		if !ok {
			if nm != m {
				e.meta.Store(m)
			}
			t.count(h, cDropInvalid)
			return Result{Verdict: DropInvalid, Dir: d, State: st}
		}
		if nm&fRelearn != 0 {
			switch {
			case !strict:
				t.count(h, cRelearned)
			case d == DirOriginal:
				nm |= fStrictOrig
			default:
				nm |= fStrictReply
			}
			if nm&(fStrictOrig|fStrictReply) == fStrictOrig|fStrictReply {
				nm &^= fRelearn | fStrictOrig | fStrictReply // relearnt: strict checks from now on
			}
		}
		ns = next
		if ns == StateEstablished {
			nm |= fAssured
		}
	case st == StateUDPUnreplied && d == DirReply:
		ns = StateUDPReplied
		nm |= fAssured
	}
	if d == DirReply {
		nm |= fSeenReply
	}
	nm = withState(nm, ns)
	if nm != m {
		e.meta.Store(nm)
	}
	timeout := t.cfg.Timeouts.timeout(ns)
	e.expires.Store(now + timeout)
	if metaOwner(nm) == t.cfg.Self {
		// A state change matters for failover; so does a backup copy
		// about to expire while the connection lives (keepalive: at most
		// two records per timeout period).
		if nm&^(0xff<<mScaleShift) != m&^(0xff<<mScaleShift) {
			e.version.Add(1)
			t.emit(e, OpUpdate, now)
		} else if t.sink != nil && e.synced.Load()-now < timeout/2 {
			e.version.Add(1)
			t.emit(e, OpUpdate, now)
		}
	}
	var ow kwords
	ow.fromEntry(e)
	return Result{
		Rewrite: rewrite(&ow, nm, [2]uint64{e.nat[0].Load(), e.nat[1].Load()}, d),
		Verdict: Accept,
		Dir:     d,
		State:   ns,
	}
}
