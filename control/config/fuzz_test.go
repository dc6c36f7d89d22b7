package config

import (
	"errors"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add(gw1TOML)
	f.Add(gw2TOML)
	if data, err := os.ReadFile("example.toml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("[member]\nid = 0\n[cores]\nworkers = [{ core = 9, queues = { x = [70000] } }]"))
	f.Add([]byte("[sync]\nmax_bandwidth = \"1.5Gbit\"\ndelayed_notification = \"0s\"\n[nat]\nsnat = [\"10.0.0.0/8\", \"fd00::1-fd00::9\"]"))
	f.Add([]byte("[[policy.allow]]\nports = [1, \"2-3\"]\nsource = [\"::/0\"]\n[ha.vips]\nin0 = [\"1.2.3.4\"]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(data, twoCores)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || c != nil {
				t.Fatalf("Parse error %v (%T), config %v", err, err, c != nil)
			}
			_ = ve.Error()
			return
		}
		// A config Parse accepted is accepted again.
		if _, err := c.Validate(twoCores); err != nil {
			t.Fatalf("Validate after Parse: %v", err)
		}
	})
}
