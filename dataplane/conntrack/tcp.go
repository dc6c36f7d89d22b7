package conntrack

// TCP header flags as they appear in Segment.Flags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
)

// NoWScale in Segment.WScale: the SYN carried no window scale option.
const NoWScale = 0xff

// Segment is what the TCP state machine needs from a packet; the engine
// fills it from its own parser. Dir is set by Track from the lookup.
type Segment struct {
	Seq, Ack   uint32
	Window     uint16 // raw window field, unscaled
	PayloadLen uint16 // TCP payload bytes
	Flags      uint8
	WScale     uint8 // window scale option of a SYN, or NoWScale
	Dir        Dir
}

// Pseudo-states of the transition table: ignore the packet without a state
// change, or treat it as invalid.
const (
	sIG State = 0xfe
	sIV State = 0xff
)

// Flag classes indexing the transition table.
const (
	tcpSyn = iota
	tcpSynAck
	tcpFin
	tcpAck
	tcpRst
	tcpNone
)

func flagClass(f uint8) int {
	switch {
	case f&FlagRST != 0:
		return tcpRst
	case f&FlagSYN != 0 && f&FlagACK != 0:
		return tcpSynAck
	case f&FlagSYN != 0:
		return tcpSyn
	case f&FlagFIN != 0:
		return tcpFin
	case f&FlagACK != 0:
		return tcpAck
	}
	return tcpNone
}

// tcpTable[dir][class][state] is netfilter's transition table
// (tcp_conntracks), indexed by our State values; column 0 is "no state".
var tcpTable = func() (tt [2][6][numStates]State) {
	const (
		sNO = StateNone
		sSS = StateSynSent
		sSR = StateSynRecv
		sES = StateEstablished
		sFW = StateFinWait
		sCW = StateCloseWait
		sLA = StateLastAck
		sTW = StateTimeWait
		sCL = StateClose
		sS2 = StateSynSent2
	)
	order := [...]State{sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2}
	rows := [2][6][10]State{{
		/*            sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
		/* syn    */ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		/* synack */ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		/* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack    */ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		/* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	}, {
		/* reply     sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
		/* syn    */ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		/* synack */ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		/* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack    */ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		/* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	}}
	for d := range rows {
		for c := range rows[d] {
			for s := range tt[d][c] {
				tt[d][c][s] = sIV
			}
			for i, from := range order {
				tt[d][c][from] = rows[d][c][i]
			}
		}
	}
	return tt
}()

// NextTCPState is the state after a packet with the given flags in
// direction d, in state s (StateNone for a connection not yet tracked).
// ok is false for an invalid packet; a packet the table ignores returns s.
func NextTCPState(s State, d Dir, flags uint8) (next State, ok bool) {
	if s >= numStates {
		return s, false
	}
	n := tcpTable[d&1][flagClass(flags)][s]
	switch n {
	case sIV:
		return s, false
	case sIG:
		return s, true
	}
	return n, true
}

func seqAfter(a, b uint32) bool { return int32(b-a) < 0 }

// maxAckWindow bounds how far behind the receiver's end an ACK may be
// (netfilter's MAXACKWINUNSCALED).
const maxAckWindow = 66000

// tcpInWindow is netfilter's tcp_in_window, simplified: no SACK, no
// retransmission counting. It checks that the segment lies in the window
// the receiver advertised and that its ACK acknowledges data that was sent,
// and updates the tracking. A direction with maxWin == 0 has not been seen
// yet (new connection, pickup, or an entry replicated from a peer, whose
// sequence numbers moved on since it was last synced): its first segment
// initialises it, and ACK checks against it are skipped until then.
// It returns ok (the segment is acceptable) and strict (it passed the
// checks, rather than initialising a direction or being forgiven).
//
// An entry in relearning mode (fRelearn, after a takeover) forgives a
// segment that fails the checks: during a failover the two directions of
// a connection can cross different members for a moment, so the new
// owner sees ACKs of data it never saw and data beyond windows it never
// saw advertised. The forgiven segment moves the tracking to where the
// endpoints are, as netfilter's "be liberal" does for picked-up
// connections; update ends the mode once each direction has passed.
// A replica (owned by a peer) is always forgiving: its tracking sees only
// the segments that stray to this member, and goes stale in between.
// Precondition: e's lock held, or e not yet published (initEntry).
func (t *Table) tcpInWindow(e *entry, d Dir, seg *Segment) (ok, strict bool) {
	snd, rcv := &e.tcp[d], &e.tcp[d^1]
	m := e.meta.Load()
	end := seg.Seq + uint32(seg.PayloadLen)
	if seg.Flags&FlagSYN != 0 {
		end++
	}
	if seg.Flags&FlagFIN != 0 {
		end++
	}
	win := uint32(seg.Window)
	if seg.Flags&FlagSYN == 0 {
		sc := metaScale(m, d)
		if sc == scaleUnknown {
			sc = 14 // scale never learnt (pickup, replica): be generous
		}
		win <<= sc
	}
	ack := seg.Ack
	if seg.Flags&FlagACK == 0 {
		ack = rcv.end.Load()
	}
	if snd.maxWin.Load() == 0 {
		snd.end.Store(end)
		snd.maxEnd.Store(end)
		snd.maxWin.Store(max(win, 1))
		if seg.Flags&FlagACK != 0 && rcv.maxWin.Load() != 0 && seqAfter(ack+win, rcv.maxEnd.Load()-1) {
			rcv.maxEnd.Store(ack + win)
		}
		return true, false
	}
	if t.cfg.TCPLiberal {
		return true, true
	}
	rEnd, rWin := rcv.end.Load(), rcv.maxWin.Load()
	sEnd, sMaxEnd, sWin := snd.end.Load(), snd.maxEnd.Load(), snd.maxWin.Load()
	ok = !seqAfter(seg.Seq, sMaxEnd) &&
		(rWin == 0 || seqAfter(end, sEnd-rWin-1))
	if ok && rWin != 0 && seg.Flags&FlagACK != 0 {
		ok = !seqAfter(ack, rEnd) && seqAfter(ack, rEnd-max(sWin, maxAckWindow)-1)
	}
	if !ok {
		if m&fRelearn == 0 && metaOwner(m) == t.cfg.Self {
			return false, false
		}
		forgive(snd, rcv, end, win, ack, seg.Flags&FlagACK != 0)
		return true, false
	}
	if sWin < win {
		snd.maxWin.Store(win)
	}
	if seqAfter(end, sEnd) {
		snd.end.Store(end)
	}
	if rWin != 0 && seqAfter(end, sMaxEnd) {
		rcv.maxWin.Store(rWin + (end - sMaxEnd))
	}
	if seg.Flags&FlagACK != 0 && seqAfter(ack+win, rcv.maxEnd.Load()-1) {
		mx := ack + win
		if win == 0 {
			mx++
		}
		rcv.maxEnd.Store(mx)
	}
	return true, true
}

// forgive moves a direction's tracking to a segment that failed the window
// checks (relearning mode): the sender has sent up to end, the receiver
// acknowledged up to ack and may take win beyond it.
func forgive(snd, rcv *tcpDir, end, win, ack uint32, hasAck bool) {
	if seqAfter(end, snd.end.Load()) {
		snd.end.Store(end)
	}
	if seqAfter(end, snd.maxEnd.Load()) {
		snd.maxEnd.Store(end)
	}
	if snd.maxWin.Load() < win {
		snd.maxWin.Store(max(win, 1))
	}
	if !hasAck {
		return
	}
	if seqAfter(ack, rcv.end.Load()) {
		rcv.end.Store(ack) // the receiver saw data up to ack, through the old owner
	}
	if seqAfter(ack+win, rcv.maxEnd.Load()) {
		rcv.maxEnd.Store(ack + win)
	}
}

// resetTCP forgets the window tracking of both directions. Precondition:
// e's lock held.
func resetTCP(e *entry) {
	for d := range e.tcp {
		store32(&e.tcp[d].end, 0)
		store32(&e.tcp[d].maxEnd, 0)
		store32(&e.tcp[d].maxWin, 0)
	}
}
