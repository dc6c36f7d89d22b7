package remediate

import (
	"strings"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/internal/histogram"
)

const ms = time.Millisecond

// base is the tests' Config: 3s doubling to 30s, lag 50ms, backlog 100000,
// hold 2s.
var base = Config{Base: 3 * time.Second, Max: 30 * time.Second, Factor: 2, LagThreshold: 50 * ms, QueueThreshold: 100_000, Hold: 2 * time.Second}

// phase is a stretch of identical samples, one every 100ms.
type phase struct {
	for_    time.Duration
	lag     time.Duration
	frames  uint64
	backlog int
	dead    bool
}

var (
	lagHigh  = phase{lag: 80 * ms, frames: 100}
	lagMid   = phase{lag: 40 * ms, frames: 100} // between calm (25ms) and the threshold
	calm     = phase{lag: 5 * ms, frames: 100, backlog: 20}
	idle     = phase{} // no frames: no lag figure
	backlogH = phase{lag: 5 * ms, frames: 100, backlog: 150_000}
)

func (p phase) lasting(d time.Duration) phase { p.for_ = d; return p }

// step is a decision seen: when (from the start) and what.
type step struct {
	at       time.Duration
	dir      Direction
	from, to time.Duration
}

func run(t *testing.T, cfg Config, phases []phase) ([]step, []Decision) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	var ds []Decision
	now := time.Duration(0)
	for _, p := range phases {
		for end := now + p.for_; now < end; now += 100 * ms {
			d := c.Observe(Sample{Now: int64(now) + 1, PeerAlive: !p.dead, LagP99: p.lag, Frames: p.frames, Backlog: p.backlog})
			if d.Dir != Hold {
				steps = append(steps, step{now, d.Dir, d.From, d.To})
				ds = append(ds, d)
				if d.To != c.Delay() {
					t.Errorf("at %v: decision to %v, Delay() %v", now, d.To, c.Delay())
				}
			}
		}
	}
	return steps, ds
}

func TestController(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name   string
		cfg    Config
		phases []phase
		want   []step
	}{
		{"calm: nothing", base, []phase{calm.lasting(20 * s)}, nil},
		{"idle link: nothing", base, []phase{idle.lasting(20 * s)}, nil},
		{"short burst: nothing", base, []phase{lagHigh.lasting(1900 * ms), calm.lasting(10 * s)}, nil},
		{"lag held: one raise after hold", base, []phase{lagHigh.lasting(2100 * ms)}, []step{{2 * s, Raise, 3 * s, 6 * s}}},
		{"backlog held: raise", base, []phase{backlogH.lasting(2100 * ms)}, []step{{2 * s, Raise, 3 * s, 6 * s}}},
		// The next raise waits for the replaced delay (3s) to pass, then
		// hold: 2s + 3s + 2s.
		{"step by step, settling", base, []phase{lagHigh.lasting(7100 * ms)}, []step{{2 * s, Raise, 3 * s, 6 * s}, {7 * s, Raise, 6 * s, 12 * s}}},
		{"capped at max", base, []phase{lagHigh.lasting(120 * s)}, []step{
			{2 * s, Raise, 3 * s, 6 * s}, {7 * s, Raise, 6 * s, 12 * s}, {15 * s, Raise, 12 * s, 24 * s}, {29 * s, Raise, 24 * s, 30 * s},
		}},
		{"lowers back when calm", base, []phase{lagHigh.lasting(7100 * ms), calm.lasting(4100 * ms), calm.lasting(10 * s)}, []step{
			{2 * s, Raise, 3 * s, 6 * s}, {7 * s, Raise, 6 * s, 12 * s}, {9100 * ms, Lower, 12 * s, 6 * s}, {11100 * ms, Lower, 6 * s, 3 * s},
		}},
		{"in between holds the delay", base, []phase{lagHigh.lasting(2100 * ms), lagMid.lasting(30 * s)}, []step{{2 * s, Raise, 3 * s, 6 * s}}},
		{"in between restarts the count", base, []phase{lagHigh.lasting(1500 * ms), lagMid.lasting(100 * ms), lagHigh.lasting(1900 * ms)}, nil},
		{"dead peer: nothing", base, []phase{{for_: 20 * s, lag: 80 * ms, frames: 100, backlog: 200_000, dead: true}}, nil},
		{"from 0: first step 1s", Config{Max: 5 * s, Factor: 2, LagThreshold: 50 * ms, QueueThreshold: 1000, Hold: s}, []phase{lagHigh.lasting(10 * s)}, []step{
			{s, Raise, 0, s}, {2100 * ms, Raise, s, 2 * s}, {4100 * ms, Raise, 2 * s, 4 * s}, {7100 * ms, Raise, 4 * s, 5 * s},
		}},
		{"adding steps", Config{Base: s, Max: 3 * s, Add: 500 * ms, LagThreshold: 50 * ms, QueueThreshold: 1000, Hold: s}, []phase{lagHigh.lasting(8 * s), calm.lasting(3 * s)}, []step{
			{s, Raise, s, 1500 * ms}, {3 * s, Raise, 1500 * ms, 2 * s}, {5500 * ms, Raise, 2 * s, 2500 * ms}, {9 * s, Lower, 2500 * ms, 2 * s}, {10 * s, Lower, 2 * s, 1500 * ms},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := run(t, tc.cfg, tc.phases)
			if len(got) != len(tc.want) {
				t.Fatalf("steps\n%v\nwant\n%v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("step %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestReasons(t *testing.T) {
	_, ds := run(t, base, []phase{{for_: 2100 * ms, lag: 80 * ms, frames: 9, backlog: 150_000}, calm.lasting(2100 * ms)})
	if len(ds) != 2 {
		t.Fatalf("decisions %+v", ds)
	}
	if want := "lag p99 80ms > 50ms, backlog 150000 > 100000 records"; ds[0].Reason != want {
		t.Errorf("raise reason %q, want %q", ds[0].Reason, want)
	}
	if want := "calm for 2s: lag p99 5ms ≤ 25ms, backlog 20 ≤ 50000 records"; ds[1].Reason != want {
		t.Errorf("lower reason %q, want %q", ds[1].Reason, want)
	}
	if ds[0].Dir.String() != "raised" || ds[1].Dir.String() != "lowered" {
		t.Errorf("directions %v %v", ds[0].Dir, ds[1].Dir)
	}
}

// TestRebase: the operator's new delay is the new base; the steps start
// from it, and a base at the cap leaves no room.
func TestRebase(t *testing.T) {
	c, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	feed := func(from, to time.Duration, lag time.Duration) (out []Decision) {
		for now := from; now < to; now += 100 * ms {
			if d := c.Observe(Sample{Now: int64(now), PeerAlive: true, LagP99: lag, Frames: 10}); d.Dir != Hold {
				out = append(out, d)
			}
		}
		return out
	}
	if ds := feed(ms, 2100*ms, 80*ms); len(ds) != 1 || c.Delay() != 6*time.Second {
		t.Fatalf("before rebase: %+v, delay %v", ds, c.Delay())
	}
	c.Rebase(time.Second)
	if c.Delay() != time.Second || c.Base() != time.Second {
		t.Fatalf("after rebase: delay %v base %v, want 1s", c.Delay(), c.Base())
	}
	if ds := feed(2100*ms, 4200*ms, 80*ms); len(ds) != 1 || ds[0].From != time.Second || ds[0].To != 2*time.Second {
		t.Errorf("raise from the new base: %+v", ds)
	}
	c.Rebase(time.Minute)
	if ds := feed(4200*ms, 20*time.Second, 80*ms); len(ds) != 0 || c.Delay() != time.Minute {
		t.Errorf("base above the cap: %+v, delay %v", ds, c.Delay())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"max not above base", func(c *Config) { c.Max = c.Base }, "not above the base"},
		{"no step", func(c *Config) { c.Factor = 0 }, "neither a factor"},
		{"factor 1", func(c *Config) { c.Factor = 1 }, "not above 1"},
		{"no hold", func(c *Config) { c.Hold = 0 }, "must be positive"},
	} {
		cfg := base
		tc.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestLagWindow: the window forgets lag older than its span.
func TestLagWindow(t *testing.T) {
	var cum histogram.Histogram
	w := LagWindow{Span: time.Second}
	now := int64(0)
	tick := func(lag time.Duration, n int) (time.Duration, uint64) {
		for range n {
			cum.Record(uint64(lag))
		}
		now += int64(100 * ms)
		return w.Observe(now, &cum)
	}
	if p, n := tick(80*ms, 100); p != 0 || n != 0 {
		t.Errorf("first observation: p99 %v over %d frames, want nothing yet", p, n)
	}
	for range 20 {
		tick(80*ms, 10)
	}
	if p, n := tick(80*ms, 10); p < 79*ms || p > 81*ms || n < 50 || n > 110 {
		t.Errorf("under 80ms lag: p99 %v over %d frames", p, n)
	}
	for range 10 {
		tick(2*ms, 10)
	}
	if p, n := tick(2*ms, 10); p > 3*ms || n == 0 {
		t.Errorf("a second after the lag fell to 2ms: p99 %v over %d frames, want about 2ms", p, n)
	}
	for range 11 {
		tick(0, 0)
	}
	if p, n := tick(0, 0); p != 0 || n != 0 {
		t.Errorf("idle for a second: p99 %v over %d frames, want none", p, n)
	}
}
