package syncpath

// Backlog returns the records waiting to be sent: in the sink's ring and
// in the coalescing queue, not those the notification delay holds back.
// Counters.QueueDepth counts those too, and they grow with the delay by
// design, so a control that raises the delay under queue pressure (the
// opt-in remediation, tandemd) reads Backlog instead. As of the last Poll
// for the queue, now for the ring.
// Precondition: the session's goroutine (between Polls).
func (s *Session) Backlog() int {
	n := s.co.len()
	if s.cfg.Sink != nil {
		n += s.cfg.Sink.Len()
	}
	return n
}
