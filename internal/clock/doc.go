// Package clock is the time source that timeouts, aging, heartbeats and
// retransmits are driven by, so tests can advance time by hand.
//
// A Clock reports monotonic time as nanoseconds since an arbitrary origin
// fixed when the clock was made (Now() int64). The origin is private to each
// clock: values from two clocks, or from two processes, cannot be compared,
// which is why anything that crosses the wire carries relative durations.
//
// Real wraps the runtime's monotonic clock; Coarse hands out a reading taken
// once per resolution by a ticker goroutine of its own, for the packet path;
// Manual only moves when Advance or Set is called. The package owns nothing
// else.
package clock
