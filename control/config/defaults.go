package config

import (
	_ "embed" // the lab's gateway configs
	"fmt"
	"slices"
)

// The lab's two gateways, gw1 and gw2 (tools/lab): inside in0, outside out0
// (2 queues each), sync link sync0 (1 queue), SNAT to 10.77.2.100, the VIPs
// 10.77.1.1, 10.77.2.1, fd77:1::1 and fd77:2::1, the control plane on core 0
// and every worker on core 1.
var (
	//go:embed gw1.toml
	gw1TOML []byte
	//go:embed gw2.toml
	gw2TOML []byte
)

// Default returns the embedded config of the lab's gateway gw1. It is
// validated without a machine (no core or interface checks); the daemon
// checks it against the machine with Validate.
func Default() (*Config, error) { return DefaultFor(1) }

// DefaultTOML returns the text of the embedded config of gw1.
func DefaultTOML() []byte { return slices.Clone(gw1TOML) }

// DefaultFor returns the embedded config of the lab's gateway gw<member>:
// member 1 or 2.
func DefaultFor(member int) (*Config, error) {
	data, err := DefaultTOMLFor(member)
	if err != nil {
		return nil, err
	}
	c, _, err := Parse(data, Machine{}, WithSource(fmt.Sprintf("gw%d.toml (embedded)", member)))
	return c, err
}

// DefaultTOMLFor returns the text of the embedded config of gw<member>.
func DefaultTOMLFor(member int) ([]byte, error) {
	switch member {
	case 1:
		return slices.Clone(gw1TOML), nil
	case 2:
		return slices.Clone(gw2TOML), nil
	}
	return nil, fmt.Errorf("default config for member %d: the lab has members 1 and 2", member)
}
