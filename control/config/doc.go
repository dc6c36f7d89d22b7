// Package config reads, completes and checks tandemd's configuration file.
//
// The file is TOML (docs/config.md is the operator's reference, example.toml
// a commented example of every key). It holds this member's identity, its
// interfaces and queue counts, the core each worker runs on, the sync link
// and its peers, the VIPs, NAT, the stateful policy, the connection table's
// size and timeouts, busy polling, the AF_XDP settings, the API and metrics.
//
// Parse decodes a file over Defaults(), so a key left out keeps its default;
// a key that is not in the schema is an error that names it. Validate then
// checks every value, the relations between them (a worker's queue must
// exist on its interface, a VIP must be on its interface's subnet) and the
// machine described by a Machine: which cores exist and, when asked, which
// interfaces. It finds every problem in one pass and returns them together
// in a *ValidationError, each with its key path, its value and the reason;
// settings that work but are probably unintended are returned as Warnings
// for the daemon to log. Check is tandemd -check; Default and DefaultFor are
// the lab's gateways gw1 and gw2, embedded.
//
// The package owns the schema, its defaults and its checks. It does not
// apply the config to anything: it opens no socket, pins no thread and
// loads no key file. cmd/tandemd turns a Config into the engine's, sync's
// and the API's own settings.
package config
