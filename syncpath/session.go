package syncpath

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/tandem-gw/tandem/dataplane/conntrack"
	"github.com/tandem-gw/tandem/internal/histogram"
	"github.com/tandem-gw/tandem/syncpath/ccp"
)

// Header offsets this package patches in a packed, not yet sealed frame
// (docs/ccp.md, Header): a retransmission is the same body under a new
// frame seq, with the current piggybacked ack.
const (
	offFlags = 4  // 1 byte
	offCount = 10 // 2 bytes
	offAck   = 34 // 8 bytes
)

// knobs switch mechanisms off, for tests that show a test fails without
// the mechanism it guards. The zero value is production.
type knobs struct {
	noRetransmit bool // no retransmission on nack or timeout, no gap-timeout full sync
	noFullSync   bool // never start a snapshot (requests and peer restarts ignored)
	noAuth       bool // treat frames that fail authentication as plaintext (no AEAD)
	noCoalesce   bool // one record sent per record emitted
	noSweep      bool // the backup keeps entries a full sync did not contain
}

// Session replicates this member's connections to one peer and applies the
// peer's connections to the local table. It is driven by one goroutine
// (Poll, or Run); Counters and LagSnapshot are safe from any goroutine.
type Session struct {
	cfg   Config
	knobs knobs

	sealer *ccp.Sealer
	fw     *ccp.FrameWriter
	opener *ccp.Opener

	waiter ReceiveWaiter // cfg.Transport's, nil when it has none

	// receive batch
	rxBufs  [][]byte
	rxSizes []int
	txBuf   []byte // sealing scratch, cap maxFrame
	drain   []conntrack.Record
	rec     conntrack.Record // decoding scratch
	// a received frame's records, decoded before they are applied, and
	// their outcomes
	applyBuf []conntrack.Record
	applyRes []conntrack.ApplyResult
	ack      ccp.Ack // decoding scratch
	nacks    ccp.Ack // encoding scratch

	// sender: the coalescing queue (and full-sync changelog) and the window
	co      *coalescer
	dl      *delayer // nil: delayed notifications off
	release func(*conntrack.Record)
	relNow  int64  // session clock time of the current release, for lag
	slots   []slot // Window slots; DataSeq s lives in slots[s%Window]
	base    uint64 // lowest unacked DataSeq
	// progressAt is when the cumulative ack last advanced: the timeout of
	// the frames in flight runs from it (RFC 6298 5.3), so frames queued
	// behind a busy receiver are not resent while its acks still advance.
	progressAt int64
	next       uint64 // next DataSeq to assign
	lastHB     int64  // when the last heartbeat was sent
	fs         fullSync
	rangeFn    func(conntrack.Record) bool

	// receiver: the peer's stream
	peerEpoch    uint32
	peerEpochAt  int64 // when the current peer epoch was first seen
	peer         peerView
	delayCtl     delayControl
	lastHeard    int64
	peerHBTime   uint64 // Time of the peer's last heartbeat, echoed back
	started      bool   // tracking the peer's DataSeq stream (after a full sync began)
	cum          uint64 // every DataSeq <= cum received
	maxSeen      uint64 // highest DataSeq received
	got          []uint64
	ackDue       bool
	lastAck      int64
	gapSince     int64
	wantFull     bool
	wantReason   ccp.SyncReason
	wantSince    int64
	reqSession   uint32
	lastReq      int64
	curSession   uint32
	haveSession  bool
	sessionStart int64
	// Collecting a snapshot for the sweep at its end. Chunks of a
	// snapshot may arrive before its first chunk, so collecting starts
	// with the first chunk of a session to arrive, whatever its index.
	// suspect holds the keys that may be stale when the snapshot ends:
	// the peer's entries the table held when collecting began, and the
	// keys applied since from records that are not fresh (older than the
	// snapshot), until a fresh record (the snapshot's, or a delta sent
	// after it began) covers them.
	collecting  bool
	suspect     map[conntrack.Key]struct{}
	seenSession uint32
	seenFrom    uint64 // lowest DataSeq of a chunk of seenSession: deltas above it are newer than the snapshot
	doneSeq     uint64 // DataSeq of the last FULLSYNC_DONE received, 0: none pending
	doneSession uint32 // its session
	staleBuf    []conntrack.Record

	bw    bucket
	cnt   counters
	lagMu sync.Mutex
	lag   histogram.Histogram // guarded by lagMu: state change drained until acked, per frame (its oldest record)
}

// slot is one frame of the retransmit window: its plaintext (header and
// body, before sealing) so that it can be sealed again under a new seq.
type slot struct {
	buf     []byte
	n       int   // plaintext bytes
	records int   // connection records in the body
	sentAt  int64 // last (re)transmission
	since   int64 // when its oldest record was drained (0: none), for lag
	tries   uint8 // timeout retransmissions so far: the timeout doubles each time, up to 32x
	acked   bool
}

// fullSync is the sender's state of a snapshot stream.
type fullSync struct {
	active    bool
	session   uint32
	index     uint32
	cursor    uint32
	records   uint64
	start     int64
	walkDone  bool
	carry     conntrack.Record
	haveCarry bool
	// digest sums conntrack.RecordDigest over every live entry the walk
	// visited: the table's Digest as walked, without a second walk of
	// the whole table at the end (equal to Table.Digest when nothing
	// changed meanwhile)
	digest  uint64
	full    bool   // the chunk being packed is full
	tnow    int64  // table time of the chunk being packed
	doneSeq uint64 // DataSeq of DONE, until acked
}

// New returns a session; nothing is sent until the first Poll. A session
// begins by asking the peer for a full sync (reason boot): a member that
// starts has none of the peer's state.
func New(cfg Config) (*Session, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	sealer, err := ccp.NewSealer(cfg.Keys, cfg.Cluster, cfg.Self, cfg.Epoch)
	if err != nil {
		return nil, fmt.Errorf("creating sealer for member %d: %w", cfg.Self, err)
	}
	maxFrame := ccp.MaxFrameSize(cfg.MTU, cfg.IPv6)
	waiter, _ := cfg.Transport.(ReceiveWaiter)
	s := &Session{
		waiter:     waiter,
		cfg:        cfg,
		sealer:     sealer,
		fw:         ccp.NewFrameWriter(sealer, maxFrame),
		opener:     ccp.NewOpener(cfg.Keys, cfg.Cluster, cfg.Self),
		txBuf:      make([]byte, 0, maxFrame),
		drain:      make([]conntrack.Record, min(cfg.DrainBatch, 1024)),
		co:         newCoalescer(4096),
		slots:      make([]slot, cfg.Window),
		base:       1,
		next:       1,
		got:        make([]uint64, cfg.Window/64),
		wantFull:   true,
		wantReason: ccp.ReasonBoot,
		wantSince:  cfg.Clock.Now(),
		reqSession: cfg.Epoch << 8, // distinct across our restarts; the low byte counts requests
		lastReq:    -1 << 62,
		lastHB:     -1 << 62,
	}
	rxSize := max(maxFrame, 9216)
	s.rxBufs = make([][]byte, cfg.Batch)
	for i := range s.rxBufs {
		s.rxBufs[i] = make([]byte, rxSize)
	}
	s.rxSizes = make([]int, cfg.Batch)
	for i := range s.slots {
		s.slots[i].buf = make([]byte, 0, maxFrame)
		s.slots[i].acked = true
	}
	s.rangeFn = func(r conntrack.Record) bool {
		s.fs.digest += conntrack.RecordDigest(&r) // every live entry the walk visits, once
		return s.addChunkRecord(r)
	}
	if cfg.Delay > 0 {
		s.dl = newDelayer(int64(cfg.Delay))
		s.delayCtl.ns.Store(int64(cfg.Delay))
	}
	s.release = s.addReleased
	s.SetBandwidth(cfg.MaxBandwidth)
	s.SetRole(cfg.Role, cfg.Priority)
	return s, nil
}

// Run polls until ctx is done or the transport is closed, yielding the
// processor when a poll found nothing to do.
func (s *Session) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		busy, err := s.Poll()
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		if !busy {
			runtime.Gosched()
		}
	}
	return nil
}

// Poll runs one round of the session at the clock's current time: receive
// and handle a batch of frames, send a heartbeat if due (ahead of any
// data), drain the sink, send snapshot chunks or coalesced deltas as far as
// the window allows, retransmit what timed out, and send an ack if due. It
// reports whether it received or sent anything. Precondition: called by
// the session's goroutine.
func (s *Session) Poll() (bool, error) {
	now := s.cfg.Clock.Now()
	busy, drained := false, false
	wait, bounded := s.receiveWait(now)
	for range 4 {
		var n int
		var err error
		if bounded {
			n, err = s.waiter.ReceiveWithin(s.rxBufs, s.rxSizes, wait)
		} else {
			n, err = s.cfg.Transport.Receive(s.rxBufs, s.rxSizes)
		}
		if err != nil {
			return busy, fmt.Errorf("member %d receiving: %w", s.cfg.Self, err)
		}
		for i := range n {
			s.handle(s.rxBufs[i][:s.rxSizes[i]], now)
		}
		busy = busy || n > 0
		if n < len(s.rxBufs) {
			drained = true
			break
		}
	}
	if now-s.lastHB >= int64(s.cfg.HeartbeatInterval) {
		s.sendHeartbeat(now)
	}
	s.applyDelayChange(now)
	if s.cfg.Sink != nil {
		if s.cfg.Sink.takeFullSync() && !s.knobs.noFullSync {
			s.startFullSync(now, s.fs.session+1|1<<31) // a lost delete: sender-initiated
		}
		tnow := s.cfg.Table.Now()
		for taken := 0; taken < s.cfg.DrainBatch; {
			n := s.cfg.Sink.drain(s.drain)
			for i := range n {
				r := &s.drain[i]
				if s.dl != nil {
					if took, gone := s.dl.offer(r, tnow, s.co.waiting(r.Key)); took {
						if gone {
							s.cnt.suppressed.Add(1)
						}
						continue
					}
				}
				if s.co.add(r, now, !s.knobs.noCoalesce) {
					s.cnt.coalesced.Add(1)
				}
			}
			taken += n
			busy = busy || n > 0
			if n < len(s.drain) {
				break
			}
		}
	}
	if s.dl != nil {
		s.relNow = now
		s.dl.release(s.cfg.Table.Now(), s.release)
	}
	s.bw.refill(now, s.fw.MaxFrame())
	sentBefore := s.next
	if s.fs.active {
		s.pumpFullSync(now)
	} else {
		s.flushDeltas(now)
	}
	busy = busy || s.next != sentBefore
	if !s.knobs.noRetransmit {
		s.retransmitTimedOut(now)
	}
	s.receiverTimers(now)
	if sinceAck := now - s.lastAck; s.ackDue && (sinceAck >= int64(s.cfg.AckInterval) ||
		drained && s.cfg.AckIdle > 0 && sinceAck >= int64(s.cfg.AckIdle)) {
		s.sendAck(now)
	}
	depth := s.co.len()
	if s.dl != nil {
		depth += s.dl.len()
	}
	if s.cfg.Sink != nil {
		depth += s.cfg.Sink.Len()
	}
	s.cnt.queueDepth.Store(int64(depth))
	s.cnt.inFlight.Store(int64(s.next - s.base))
	s.cnt.peerAlive.Store(s.lastHeard != 0 && now-s.lastHeard < int64(s.cfg.PeerTimeout))
	return busy, nil
}

// receiveWait is how long this Poll's Receive may wait for a datagram
// when none is there, if the session has anything to do sooner than the
// transport's poll interval (bounded true; see ReceiveWaiter): nothing
// while records wait in the sink or the coalescer with room in the window
// or a full sync is streaming, and no longer than until an ack is due.
// Otherwise (bounded false) the transport's own interval.
func (s *Session) receiveWait(now int64) (wait time.Duration, bounded bool) {
	if s.waiter == nil {
		return 0, false
	}
	windowOpen := s.next-s.base < uint64(len(s.slots))
	if windowOpen && (s.fs.active || s.co.len() > 0 || s.cfg.Sink != nil && s.cfg.Sink.Len() > 0) {
		return 0, true
	}
	if s.ackDue {
		due := s.cfg.AckInterval
		if s.cfg.AckIdle > 0 {
			due = s.cfg.AckIdle
		}
		return max(due-time.Duration(now-s.lastAck), 0), true
	}
	return 0, false
}

// ---- sending ----

// transmit seals a copy of a window slot's plaintext under the next frame
// seq, with the current piggybacked ack, and sends it.
func (s *Session) transmit(sl *slot, now int64, retransmit bool) {
	b := s.txBuf[:sl.n]
	copy(b, sl.buf[:sl.n])
	flags := b[offFlags] &^ (ccp.FlagAck | ccp.FlagRetransmit)
	if s.started {
		flags |= ccp.FlagAck
		binary.BigEndian.PutUint64(b[offAck:], s.cum)
		if s.maxSeen <= s.cum {
			s.ackDue = false // the piggybacked ack says everything
		}
	}
	if retransmit {
		flags |= ccp.FlagRetransmit
		s.cnt.retransmits.Add(1)
	}
	b[offFlags] = flags
	sl.sentAt = now
	frame, err := s.sealer.Seal(b)
	if err != nil {
		s.cnt.sendErrors.Add(1)
		return
	}
	s.cnt.recordsSent.Add(uint64(sl.records))
	s.bw.spend(len(frame))
	s.send(frame)
}

func (s *Session) send(frame []byte) {
	if err := s.cfg.Transport.Send(s.cfg.Peer, frame); err != nil {
		s.cnt.sendErrors.Add(1)
		return
	}
	s.cnt.framesSent.Add(1)
	s.cnt.bytesSent.Add(uint64(len(frame)))
}

// sendMessage seals and sends a body that is not reliable (heartbeat, ack,
// request), piggybacking the cumulative ack.
func (s *Session) sendMessage(h ccp.Header, m ccp.Body) {
	h.Target = s.cfg.Peer
	if s.started {
		h.Flags |= ccp.FlagAck
		h.Ack = s.cum
	}
	frame, err := s.sealer.SealMessage(s.txBuf[:0], h, m)
	if err != nil {
		s.cnt.sendErrors.Add(1)
		return
	}
	s.send(frame)
}

func (s *Session) sendHeartbeat(now int64) {
	s.lastHB = now
	var status uint8 = ccp.StatusReady
	if s.Synced() {
		status |= ccp.StatusSynced
	}
	role, prio := s.Role()
	hb := ccp.Heartbeat{
		Role:     role,
		Priority: prio,
		Status:   status,
		Conns:    uint32(s.cfg.Table.Len()),
		Time:     uint64(now),
		Echo:     s.peerHBTime,
	}
	s.sendMessage(ccp.Header{}, &hb)
	s.cnt.hbSent.Add(1)
	if s.started && s.maxSeen <= s.cum {
		s.ackDue = false
	}
}

// room reports whether another data frame may be sent: the window has
// room and the bandwidth limit has tokens. It counts a stall when not.
func (s *Session) room() bool {
	if s.next-s.base >= uint64(len(s.slots)) {
		s.cnt.windowStalls.Add(1)
		return false
	}
	if !s.bw.ok() {
		s.cnt.bandwidthStalls.Add(1)
		return false
	}
	return true
}

// newSlot returns the slot of the next DataSeq, ready to be packed.
func (s *Session) newSlot() (*slot, uint64) {
	sl := &s.slots[s.next%uint64(len(s.slots))]
	sl.buf, sl.n, sl.records, sl.since, sl.tries, sl.acked = sl.buf[:0], 0, 0, 0, 0, false
	return sl, s.next
}

// commit finishes a slot packed by the FrameWriter (without sealing it:
// the plaintext stays for retransmission) and sends it.
func (s *Session) commit(sl *slot, now int64) {
	sl.n = s.fw.Size() - ccp.TagSize
	sl.buf = sl.buf[:sl.n]
	sl.records = s.fw.Records()
	binary.BigEndian.PutUint16(sl.buf[offCount:], uint16(sl.records))
	s.next++
	s.transmit(sl, now, false)
}

// flushDeltas packs the waiting records into DELTA frames, urgent ones
// (new, delete) first, while the window has room.
func (s *Session) flushDeltas(now int64) {
	for s.co.len() > 0 {
		if !s.room() {
			return
		}
		s.packDelta(now)
	}
}

// packDelta packs one DELTA frame from the coalescer and sends it.
func (s *Session) packDelta(now int64) {
	sl, seq := s.newSlot()
	_ = s.fw.Begin(sl.buf, ccp.Header{Op: ccp.OpDelta, Target: s.cfg.Peer, DataSeq: seq}) // cannot fail: slot buffers hold MaxFrame
	var since int64
	for p := s.co.peek(); p != nil; p = s.co.peek() {
		ok, err := s.fw.Add(&p.rec)
		if err != nil { // cannot be encoded: count and drop
			s.cnt.malformed.Add(1)
			s.co.take(p)
			continue
		}
		if !ok {
			break
		}
		if since == 0 || p.since < since {
			since = p.since
		}
		s.co.take(p)
	}
	if s.fw.Records() == 0 {
		sl.acked = true // nothing packed: the slot stays free
		return
	}
	sl.since = since
	s.commit(sl, now)
}

// ---- full sync, sender side ----

// startFullSync abandons the frames in flight (the snapshot supersedes
// them; the records waiting in the coalescer stay, as the changelog) and
// starts streaming the table.
func (s *Session) startFullSync(now int64, session uint32) {
	for q := s.base; q < s.next; q++ {
		if sl := &s.slots[q%uint64(len(s.slots))]; !sl.acked {
			sl.acked = true
			s.cnt.abandoned.Add(1)
		}
	}
	s.base = s.next
	s.fs = fullSync{active: true, session: session, start: now}
	s.cnt.fsStarted.Add(1)
}

// addReleased queues a record the delayer released; its lag counts from
// the release, not from the connection's creation.
func (s *Session) addReleased(r *conntrack.Record) {
	if s.co.add(r, s.relNow, !s.knobs.noCoalesce) {
		s.cnt.coalesced.Add(1)
	}
}

// addChunkRecord is the RangeFrom callback: it adds this member's own
// connections to the chunk being packed, keeping the one that did not fit.
func (s *Session) addChunkRecord(r conntrack.Record) bool {
	if r.Owner != s.cfg.Self {
		return true // a copy of someone else's connection: not ours to send
	}
	if s.dl != nil && s.dl.young(r.Version, s.fs.tnow) {
		return true // held by the delayer: it follows when old enough
	}
	ok, err := s.fw.Add(&r)
	if err != nil {
		s.cnt.malformed.Add(1)
		return true
	}
	if !ok {
		s.fs.carry, s.fs.haveCarry, s.fs.full = r, true, true
		return false
	}
	s.fs.records++
	return true
}

// pumpFullSync sends snapshot chunks while the window has room, then
// FULLSYNC_DONE; once DONE is sent the changelog flushes as deltas.
func (s *Session) pumpFullSync(now int64) {
	fs := &s.fs
	for fs.active {
		if !s.room() {
			return
		}
		sl, seq := s.newSlot()
		if fs.walkDone && !fs.haveCarry {
			done := ccp.FullSyncDone{Session: fs.session, Chunks: fs.index, Records: fs.records, Digest: fs.digest}
			h := ccp.Header{Op: ccp.OpFullSyncDone, Target: s.cfg.Peer, DataSeq: seq}
			sl.buf = done.Append(ccp.AppendHeader(sl.buf[:0], &h))
			sl.n = len(sl.buf)
			s.next++
			fs.doneSeq = seq
			fs.active = false
			s.transmit(sl, now, false)
			s.flushDeltas(now) // replay the changelog
			return
		}
		fs.tnow = s.cfg.Table.Now()
		_ = s.fw.Begin(sl.buf, ccp.Header{Op: ccp.OpFullSyncChunk, Target: s.cfg.Peer, DataSeq: seq})
		fs.full = false
		if fs.haveCarry {
			fs.haveCarry = false
			s.addChunkRecord(fs.carry) // visited (and summed) by the walk already
		}
		for !fs.full && !fs.walkDone {
			fs.cursor, fs.walkDone = s.cfg.Table.RangeFrom(fs.cursor, s.cfg.ChunkSlots, s.rangeFn)
		}
		s.fw.SetChunk(ccp.FullSyncChunk{Session: fs.session, Index: fs.index, Cursor: fs.cursor})
		fs.index++
		s.commit(sl, now)
	}
	s.flushDeltas(now)
}

// ---- acks and retransmission, sender side ----

// handleCumAck handles the peer's cumulative ack of our stream.
func (s *Session) handleCumAck(cum uint64, now int64) {
	if cum < s.base || cum >= s.next {
		return // old, or beyond what we sent (an ack of an earlier stream)
	}
	for q := s.base; q <= cum; q++ {
		s.markAcked(&s.slots[q%uint64(len(s.slots))], now)
	}
	s.base = cum + 1
	s.progressAt = now
	if s.fs.doneSeq != 0 && s.base > s.fs.doneSeq {
		s.fs.doneSeq = 0
		s.cnt.fsSent.Add(1)
		s.cnt.fsNanos.Store(uint64(now - s.fs.start))
	}
}

func (s *Session) markAcked(sl *slot, now int64) {
	if sl.acked {
		return
	}
	sl.acked = true
	if sl.since != 0 {
		s.lagMu.Lock()
		s.lag.Record(uint64(max(now-sl.since, 0)))
		s.lagMu.Unlock()
	}
}

// handleNacks retransmits the ranges the peer misses and takes the frames
// between them (which it has) as selectively acked.
func (s *Session) handleNacks(cum uint64, ranges []ccp.NackRange, now int64) {
	from := max(cum+1, s.base)
	for _, r := range ranges {
		for q := from; q < r.First && q < s.next; q++ {
			s.markAcked(&s.slots[q%uint64(len(s.slots))], now)
		}
		if r.Last+1 > from {
			from = r.Last + 1
		}
		if s.knobs.noRetransmit {
			continue
		}
		for q := max(r.First, s.base); q <= r.Last && q < s.next; q++ {
			sl := &s.slots[q%uint64(len(s.slots))]
			if !sl.acked && now-sl.sentAt >= int64(s.cfg.NackHoldoff) && s.bw.ok() {
				s.transmit(sl, now, true)
			}
		}
	}
}

// retransmitTimedOut resends the frames unacked for RetransmitTimeout,
// doubling the timeout of a frame at each try (up to 32 times), so a peer
// that stopped acking is not flooded with the whole window. The timeout
// counts from the frame's last transmission or the last advance of the
// cumulative ack, whichever is later: a receiver whose acks advance is
// working through its queue, and a frame it lost shows as a gap that it
// nacks; the timeout is for lost tails and lost acks.
//
// At most rtoBurst frames are resent per timeout, and the timeout then
// starts again for the rest: frames sent together time out together, and
// resending a whole window to a receiver that is only slow (descheduled,
// its queue full) doubles its work and overflows its queue. The frames it
// did lose show as gaps above the resent ones, which it nacks.
func (s *Session) retransmitTimedOut(now int64) {
	sent := 0
	for q := s.base; q < s.next && sent < rtoBurst; q++ {
		sl := &s.slots[q%uint64(len(s.slots))]
		if !sl.acked && now-max(sl.sentAt, s.progressAt) >= int64(s.cfg.RetransmitTimeout)<<sl.tries && s.bw.ok() {
			sl.tries = min(sl.tries+1, 5)
			s.transmit(sl, now, true)
			s.cnt.rtoRetransmits.Add(1)
			sent++
		}
	}
	if sent == rtoBurst {
		s.progressAt = now
	}
}

// rtoBurst bounds the frames one retransmission timeout resends.
const rtoBurst = 64

// ---- receiving ----

func (s *Session) handle(b []byte, now int64) {
	var clearText []byte
	if s.knobs.noAuth {
		clearText = append([]byte(nil), b...) // Open wipes a frame that fails
	}
	f, err := s.opener.Open(b)
	if err != nil {
		if !(s.knobs.noAuth && errors.Is(err, ccp.ErrAuth)) {
			return // counted by the Opener
		}
		// knob: no AEAD; take the bytes as a plaintext frame
		b = clearText
		h, perr := ccp.ParseHeader(b)
		if perr != nil || len(b) < ccp.Overhead+int(h.Length) {
			return
		}
		f = ccp.Frame{Header: h, Body: b[ccp.HeaderSize : ccp.HeaderSize+int(h.Length)]}
	}
	if f.Sender != s.cfg.Peer {
		s.cnt.foreign.Add(1)
		return
	}
	s.cnt.framesReceived.Add(1)
	s.cnt.bytesReceived.Add(uint64(len(b)))
	s.lastHeard = now
	s.peer.lastHeard.Store(now)
	if f.Epoch != s.peerEpoch {
		if s.peerEpoch != 0 {
			s.peerRestarted(now)
		}
		s.peerEpoch = f.Epoch
		s.peerEpochAt = now
		s.peer.epoch.Store(f.Epoch)
	}
	if f.Flags&ccp.FlagAck != 0 {
		s.handleCumAck(f.Ack, now)
	}
	switch f.Op {
	case ccp.OpHeartbeat:
		var hb ccp.Heartbeat
		if !s.decoded(hb.Decode(&f)) {
			return
		}
		s.heardHeartbeat(&hb)
		s.cnt.hbReceived.Add(1)
		s.peerHBTime = hb.Time
		if hb.Echo != 0 {
			s.cnt.rtt.Store(now - int64(hb.Echo))
		}
	case ccp.OpAck:
		if s.ack.Decode(&f) != nil || f.Flags&ccp.FlagAck == 0 {
			s.cnt.malformed.Add(1)
			return
		}
		s.cnt.acksReceived.Add(1)
		s.cnt.nacksReceived.Add(uint64(len(s.ack.Ranges)))
		s.handleNacks(f.Ack, s.ack.Ranges, now)
	case ccp.OpFullSyncRequest:
		var req ccp.FullSyncRequest
		if !s.decoded(req.Decode(&f)) {
			return
		}
		s.cnt.fsAsked.Add(1)
		if s.knobs.noFullSync {
			return
		}
		// A repeat of the request being served, or a restarted peer's
		// request when a snapshot begun since its restart is on its way,
		// changes nothing. A peer that lost the stream (ReasonWindow)
		// has dropped the snapshot in flight too: it waits for a first
		// chunk that will not come again, so that one starts anew.
		if (s.fs.active || s.fs.doneSeq != 0) && (s.fs.session == req.Session || s.fs.start >= s.peerEpochAt && req.Reason != ccp.ReasonWindow) {
			return
		}
		s.startFullSync(now, req.Session)
	case ccp.OpRole:
		var c ccp.RoleClaim
		if !s.decoded(c.Decode(&f)) {
			return
		}
		s.heardRoleClaim(c)
	case ccp.OpDelta, ccp.OpFullSyncChunk, ccp.OpFullSyncDone:
		s.handleData(&f, now)
	}
}

// decoded counts a body that did not decode, and reports whether it did.
func (s *Session) decoded(err error) bool {
	if err != nil {
		s.cnt.malformed.Add(1)
		return false
	}
	return true
}

// peerRestarted resets the receive side for the peer's new stream and
// sends the peer a full sync: a restarted member has no state.
func (s *Session) peerRestarted(now int64) {
	s.cnt.peerRestarts.Add(1)
	s.resetStream()
	s.requestFull(now, ccp.ReasonEpoch)
	if !s.knobs.noFullSync && s.cfg.Sink != nil {
		s.startFullSync(now, s.fs.session+1|1<<31)
	}
}

func (s *Session) resetStream() {
	s.started = false
	s.cum, s.maxSeen, s.gapSince, s.doneSeq = 0, 0, 0, 0
	s.haveSession, s.collecting = false, false
	s.ackDue = false
	clear(s.got)
}

// requestFull starts asking the peer for a snapshot.
func (s *Session) requestFull(now int64, reason ccp.SyncReason) {
	if !s.wantFull {
		s.wantFull, s.wantReason, s.wantSince = true, reason, now
		s.reqSession++
		s.lastReq = -1 << 62
	}
}

func (s *Session) bit(q uint64) (w *uint64, m uint64) {
	i := q % uint64(len(s.got)*64)
	return &s.got[i/64], 1 << (i % 64)
}

// handleData tracks a reliable body's DataSeq and applies it.
func (s *Session) handleData(f *ccp.Frame, now int64) {
	d := f.DataSeq
	var chunk ccp.FullSyncChunk
	if f.Op == ccp.OpFullSyncChunk {
		if chunk.Decode(f) != nil {
			s.cnt.malformed.Add(1)
			return
		}
		if !s.started || d > s.cum {
			s.collect(chunk.Session, d)
		}
		if chunk.Index == 0 && (!s.started || d > s.cum) && (!s.haveSession || chunk.Session != s.curSession) {
			s.beginSession(d, chunk.Session, now)
		}
	}
	// Whether this body's keys count as present on the peer at the end
	// of the snapshot being received.
	fresh := s.collecting && (f.Op == ccp.OpFullSyncChunk && chunk.Session == s.seenSession ||
		f.Op == ccp.OpDelta && d > s.seenFrom)
	if !s.started {
		// Not tracking the stream until a snapshot starts it: apply what
		// comes (records are idempotent), acknowledge nothing.
		if f.Op != ccp.OpFullSyncDone {
			s.applyRecords(f, fresh)
		}
		return
	}
	if d == 0 {
		s.cnt.malformed.Add(1)
		return
	}
	s.ackDue = true
	if d <= s.cum {
		s.cnt.dupData.Add(1)
		return
	}
	if d > s.cum+uint64(len(s.got)*64) {
		// Beyond the window we track: we fell out of the sender's window.
		s.resetStream()
		s.requestFull(now, ccp.ReasonWindow)
		return
	}
	w, m := s.bit(d)
	if *w&m != 0 {
		s.cnt.dupData.Add(1)
		return
	}
	*w |= m
	s.maxSeen = max(s.maxSeen, d)
	switch f.Op {
	case ccp.OpFullSyncDone:
		var done ccp.FullSyncDone
		if done.Decode(f) != nil {
			s.cnt.malformed.Add(1)
		} else {
			// It may arrive before the session's first chunk: kept,
			// and checked when the stream is complete up to it.
			s.doneSession, s.doneSeq = done.Session, d
		}
	default:
		// A delta after the snapshot began is newer than the snapshot
		// (the changelog, sent after DONE, may arrive before DONE is
		// complete): its keys are not stale either.
		s.applyRecords(f, fresh)
	}
	for {
		w, m := s.bit(s.cum + 1)
		if *w&m == 0 {
			break
		}
		*w &^= m
		s.cum++
	}
	if s.maxSeen > s.cum {
		if s.gapSince == 0 {
			s.gapSince = now
		}
	} else {
		s.gapSince = 0
	}
	if s.doneSeq != 0 && s.cum >= s.doneSeq {
		if s.haveSession && s.doneSession == s.curSession {
			s.finishSession(now)
		}
		s.doneSeq = 0
	}
}

// beginSession starts tracking the stream at the first chunk of a
// snapshot: everything before it is superseded.
func (s *Session) beginSession(d uint64, session uint32, now int64) {
	if !s.started || d-1 >= s.cum+uint64(len(s.got)*64) {
		clear(s.got)
	} else {
		for q := s.cum + 1; q < d; q++ {
			w, m := s.bit(q)
			*w &^= m
		}
	}
	s.started = true
	s.cum = d - 1
	s.maxSeen = max(s.maxSeen, s.cum)
	s.gapSince = 0
	s.curSession, s.haveSession = session, true
	if s.doneSession != session {
		s.doneSeq = 0
	}
	s.collect(session, d)
	if s.wantFull {
		s.sessionStart = s.wantSince
	} else {
		s.sessionStart = now
	}
	s.wantFull = false
}

// collect makes sure the keys of snapshot session are being collected,
// starting afresh for a new session; d is the DataSeq of one of its chunks.
func (s *Session) collect(session uint32, d uint64) {
	if !s.collecting || s.seenSession != session {
		if s.suspect == nil {
			s.suspect = make(map[conntrack.Key]struct{})
		}
		clear(s.suspect)
		s.collecting, s.seenSession, s.seenFrom = true, session, d
		// The peer's entries held now are suspect until the snapshot
		// brings them: one walk of the table here, and the suspects shrink
		// as the snapshot comes. (Keeping instead every key the snapshot
		// brings, and walking the table against them at its end, cost a
		// Go map insert a record: a backup that had taken a few deltas
		// before the snapshot began, the engine's first connections, took
		// 1.2 s instead of 0.3 for a full sync of 1M.)
		// A member that holds no other member's entry (an active whose
		// peer restarted, a fresh backup) skips the walk: on an active
		// of 1M connections it took 70 ms of the sync worker's time in
		// the middle of its own snapshot.
		if s.cfg.Table.ForeignLen() > 0 {
			peer := s.cfg.Peer
			s.cfg.Table.Range(func(r conntrack.Record) bool {
				if r.Owner == peer {
					s.suspect[r.Key] = struct{}{}
				}
				return true
			})
		}
	}
	s.seenFrom = min(s.seenFrom, d)
}

// finishSession ends a received snapshot: every entry of the peer's that
// the snapshot did not contain is gone on the peer, and is deleted here.
func (s *Session) finishSession(now int64) {
	s.doneSeq = 0
	s.cnt.fsReceived.Add(1)
	s.cnt.fsRecvNanos.Store(uint64(now - s.sessionStart))
	if !s.knobs.noSweep && s.collecting && s.seenSession == s.curSession {
		stale := s.staleBuf[:0]
		peer := s.cfg.Peer
		for k := range s.suspect {
			if r, ok := s.cfg.Table.Get(k); ok && r.Owner == peer {
				stale = append(stale, r)
			}
		}
		for i := range stale {
			r := stale[i]
			r.Op, r.Version, r.Timeout = conntrack.OpDelete, r.Version+1, 0
			if s.cfg.Table.Apply(r) == conntrack.Applied {
				s.cnt.staleRemoved.Add(1)
			}
		}
		s.staleBuf = stale[:0]
	}
	clear(s.suspect)
	s.haveSession, s.collecting = false, false
}

// applyRecords applies the records of a DELTA or FULLSYNC_CHUNK frame. It
// decodes the whole frame first and applies it with one
// conntrack.Table.ApplyBatch, which overlaps the cache misses of the
// frame's records and pays the table's per-call costs once: about 110 ns
// a record into an empty 2M-slot table on the benchmark machine, where
// Prefetch and Apply per record took 350-380 ns (BenchmarkApply in
// dataplane/conntrack). A record that does not decode ends the frame: the
// ones before it are applied.
func (s *Session) applyRecords(f *ccp.Frame, fresh bool) {
	rr, err := f.Records()
	if err != nil {
		s.cnt.malformed.Add(1)
		return
	}
	recs := s.applyBuf[:0]
	for {
		ok, err := rr.Next(&s.rec)
		if err != nil {
			s.cnt.malformed.Add(1)
			break
		}
		if !ok {
			break
		}
		recs = append(recs, s.rec) // grows to the most records a frame holds, then reused
	}
	s.applyBuf = recs
	if cap(s.applyRes) < len(recs) {
		s.applyRes = make([]conntrack.ApplyResult, len(recs), cap(recs))
	}
	out := s.applyRes[:len(recs)]
	// The records of a fresh frame take their keys off the suspects,
	// before the batch; the applied records of a frame that is not fresh
	// make theirs suspect, after it. A frame does one or the other, so
	// this is what doing each beside its own record's Apply did.
	if s.collecting && fresh && len(s.suspect) > 0 {
		for i := range recs {
			delete(s.suspect, recs[i].Key)
		}
	}
	s.cfg.Table.ApplyBatch(recs, out)
	var res [4]uint64 // by ApplyResult
	for i, a := range out {
		if int(a) < len(res) {
			res[a]++
		}
		if s.collecting && !fresh && a == conntrack.Applied {
			s.suspect[recs[i].Key] = struct{}{}
		}
	}
	s.cnt.recordsReceived.Add(uint64(len(recs)))
	s.cnt.applied.Add(res[conntrack.Applied])
	s.cnt.stale.Add(res[conntrack.ApplyStale])
	s.cnt.conflict.Add(res[conntrack.ApplyConflict])
	s.cnt.full.Add(res[conntrack.ApplyFull])
}

// receiverTimers repeats a pending full-sync request and turns a gap that
// retransmission did not fill in time into one.
func (s *Session) receiverTimers(now int64) {
	if s.started && s.gapSince != 0 && now-s.gapSince >= int64(s.cfg.GapTimeout) && !s.knobs.noRetransmit {
		s.resetStream()
		s.requestFull(now, ccp.ReasonWindow)
	}
	if s.wantFull && now-s.lastReq >= int64(s.cfg.FullSyncRetry) {
		s.lastReq = now
		s.sendMessage(ccp.Header{}, &ccp.FullSyncRequest{Reason: s.wantReason, Session: s.reqSession})
		s.cnt.fsRequests.Add(1)
	}
}

// sendAck sends the cumulative ack and the ranges missing above it.
func (s *Session) sendAck(now int64) {
	s.ackDue = false
	s.lastAck = now
	if !s.started {
		return
	}
	s.nacks.Ranges = s.nacks.Ranges[:0]
	for q := s.cum + 1; q <= s.maxSeen && len(s.nacks.Ranges) < ccp.MaxNackRanges; q++ {
		if w, m := s.bit(q); *w&m != 0 {
			continue
		}
		if n := len(s.nacks.Ranges); n > 0 && s.nacks.Ranges[n-1].Last == q-1 {
			s.nacks.Ranges[n-1].Last = q
		} else {
			s.nacks.Ranges = append(s.nacks.Ranges, ccp.NackRange{First: q, Last: q})
		}
	}
	s.sendMessage(ccp.Header{}, &s.nacks)
	s.cnt.acksSent.Add(1)
	s.cnt.nacksSent.Add(uint64(len(s.nacks.Ranges)))
}

// ---- figures ----

// Counters returns the session's figures.
func (s *Session) Counters() Counters {
	c := &s.cnt
	out := Counters{
		FramesSent: c.framesSent.Load(), FramesReceived: c.framesReceived.Load(),
		RecordsSent: c.recordsSent.Load(), RecordsReceived: c.recordsReceived.Load(),
		BytesSent: c.bytesSent.Load(), BytesReceived: c.bytesReceived.Load(),
		HeartbeatsSent: c.hbSent.Load(), HeartbeatsReceived: c.hbReceived.Load(),
		AcksSent: c.acksSent.Load(), AcksReceived: c.acksReceived.Load(),
		NacksSent: c.nacksSent.Load(), NacksReceived: c.nacksReceived.Load(),
		Retransmits: c.retransmits.Load(), TimeoutRetransmits: c.rtoRetransmits.Load(),
		Abandoned: c.abandoned.Load(), Coalesced: c.coalesced.Load(),
		WindowStalls: c.windowStalls.Load(), BandwidthStalls: c.bandwidthStalls.Load(), DuplicateData: c.dupData.Load(),
		SendErrors: c.sendErrors.Load(), Suppressed: c.suppressed.Load(),
		Rejected:  s.opener.Counters(),
		Malformed: c.malformed.Load(), Foreign: c.foreign.Load(),
		Applied: c.applied.Load(), ApplyStale: c.stale.Load(),
		ApplyConflict: c.conflict.Load(), ApplyFull: c.full.Load(),
		QueueDepth: int(c.queueDepth.Load()), InFlight: int(c.inFlight.Load()),
		FullSyncsStarted: c.fsStarted.Load(), FullSyncsSent: c.fsSent.Load(),
		FullSyncNanos: c.fsNanos.Load(), FullSyncsReceived: c.fsReceived.Load(),
		FullSyncRecvNanos: c.fsRecvNanos.Load(), FullSyncRequests: c.fsRequests.Load(),
		FullSyncsAsked: c.fsAsked.Load(), StaleRemoved: c.staleRemoved.Load(),
		PeerRestarts: c.peerRestarts.Load(), PeerAlive: c.peerAlive.Load(),
		RTT: c.rtt.Load(),
	}
	if s.cfg.Sink != nil {
		out.SinkOverflow, out.SinkOverflowDeletes = s.cfg.Sink.Overflow()
	}
	return out
}

// LagSnapshot copies into dst the distribution of sync lag: for each
// frame, the time from when its oldest record was drained from the sink to
// when the peer acknowledged it, in nanoseconds.
func (s *Session) LagSnapshot(dst *histogram.Histogram) {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	dst.Reset()
	dst.Merge(&s.lag)
}

// SetBandwidth sets the sync bandwidth limit in bytes per second (0:
// unlimited). Data frames wait for it; heartbeats and acks do not. Safe
// from any goroutine; it takes effect at the next Poll.
func (s *Session) SetBandwidth(bytesPerSecond int64) { s.bw.rate.Store(max(bytesPerSecond, 0)) }

// Synced reports whether this member holds a complete copy of the peer's
// connections: a snapshot was received and the stream is tracked since.
func (s *Session) Synced() bool { return s.started && !s.wantFull && !s.haveSession }

// Idle reports whether nothing waits to be sent or acked: the queue is
// empty, no frame is in flight and no snapshot is streaming.
func (s *Session) Idle() bool {
	return s.co.len() == 0 && (s.dl == nil || s.dl.len() == 0) && s.next == s.base && !s.fs.active && s.fs.doneSeq == 0 &&
		(s.cfg.Sink == nil || s.cfg.Sink.Len() == 0)
}
