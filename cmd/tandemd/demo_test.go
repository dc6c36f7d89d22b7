package main

import (
	"testing"

	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// TestDemo runs the README's main command (tandemd -demo) with a smaller
// transfer: the lab, the pair, traffic, the sync figures, a failover that
// every connection survives, a clean stop, the lab removed.
func TestDemo(t *testing.T) {
	labtest.Require(t)
	if err := runDemo(demoConfig{prefix: labtest.Prefix(), transfer: 32 << 20}); err != nil {
		t.Fatal(err)
	}
}
