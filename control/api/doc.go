// Package api is the operator API of tandemd: JSON over HTTP on a unix
// socket (and, optionally, a TCP address with a bearer token), and the Go
// client tandemctl uses.
//
// The daemon implements Backend, a small read and command surface over its
// gateway, sync sessions and HA role; Server turns it into the endpoints
// below and adds what belongs to the operator rather than to the engine:
// connection table filtering and cursor pagination (bounded work per
// request, never a full dump), parameter parsing and validation, sync
// counter baselines for `syncstat --reset` (syncpath's own counters are
// never reset), bandwidth used over the last second, the time of the last
// full sync, and core usage from /proc/stat.
//
//	GET  /v1/status              member, role, interfaces, table size, parameters
//	GET  /v1/members             this member and its peers: role, priority, liveness
//	GET  /v1/sync                per peer: every syncpath.Counters field, lag quantiles, bandwidth,
//	                             the delayed-notification delay and its remediation's steps
//	POST /v1/sync/reset          set the syncstat baselines to the current counters
//	GET  /v1/sockets             AF_XDP socket statistics (XDP_STATISTICS) per interface and queue
//	GET  /v1/workers             per-worker counters, drop reasons, XDP steering counters
//	GET  /v1/conns               connection table page: ?addr= &port= &proto= &state= &limit= &cursor=
//	GET  /v1/cpu                 busy fraction of each core over the last second
//	GET  /v1/params              runtime parameters
//	POST /v1/params              {"name": "sync.max_bandwidth", "value": "800Mbit"}
//	POST /v1/failover            planned failover: hand the active role to the peer
//
// Errors are a status code and {"error": "..."}. The package does not own
// the engine or the sync path: it reads them only through Backend.
package api
