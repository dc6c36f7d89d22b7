package conntrack

import (
	"os/exec"
	"regexp"
	"testing"
)

// TestEntryPointsInline checks that the calls taking a Key by value stay
// small enough for the compiler to inline. Inlined, the caller's key is
// read in place; called, it is copied into the call's arguments with
// overlapping 16-byte moves that the store buffer cannot forward to the
// 8-byte loads reading it, and each lookup waited for the previous one's
// cache misses to retire: BenchmarkLookupHitSingle/1M at 2.2x sync.Map
// instead of 4.1x (docs/performance.md). It asks the compiler
// (go build -gcflags=-m), as the Go toolchain's own inlining tests do.
func TestEntryPointsInline(t *testing.T) {
	// go test puts its own toolchain's bin first on the PATH.
	out, err := exec.Command("go", "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, fn := range []string{"Lookup", "Track", "TrackKnown", "Insert", "InsertNAT", "Delete"} {
		re := regexp.MustCompile(`can inline \(\*Table\)\.` + fn + `(\s|$)`)
		if !re.Match(out) {
			t.Errorf("(*Table).%s is not inlined any more: keep it a wrapper that passes &k on", fn)
		}
	}
}
