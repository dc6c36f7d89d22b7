package conntrack

import "errors"

// Sentinel errors. The packet path does not return them: it counts an
// outcome (Verdict, Stats); these are for the control-plane calls.
var (
	// ErrTableFull: no free entry and nothing could be evicted.
	ErrTableFull = errors.New("conntrack table full")
	// ErrExists: the key (or its reply tuple) is already in the table.
	ErrExists = errors.New("connection exists")
	// ErrNATExhausted: every candidate of the NAT pool collided.
	ErrNATExhausted = errors.New("nat pool exhausted")
	// ErrConfig: the configuration is invalid.
	ErrConfig = errors.New("invalid conntrack config")
	// ErrNotFound: no live entry for the key.
	ErrNotFound = errors.New("connection not found")
)
