// Package histogram records distributions of non-negative integer values,
// normally latencies and lags in nanoseconds, in fixed memory and without
// allocating, and answers quantile queries (p50, p99, p99.9, max) on them.
//
// It owns only the in-memory distribution: it does not read clocks, export
// metrics or print reports; callers time their own work and feed Record.
//
// The buckets are log-linear (HDR-style): every power-of-two range is split
// into 64 equal buckets, and values below 128 have a bucket each, so a
// reported quantile is within 1/128 (0.8%) of the value at that rank over the
// whole uint64 range (an hour in nanoseconds is 3.6e12, far below the top).
package histogram
