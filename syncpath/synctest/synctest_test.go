package synctest

import (
	"bytes"
	"testing"
	"time"

	"github.com/tandem-gw/tandem/internal/clock"
)

func run(t *testing.T, seed uint64, l Link) (Counters, [][]byte) {
	clk := clock.NewManual(0)
	n := NewNetwork(clk, seed)
	n.SetLink(1, 2, l)
	a, b := n.Transport(1), n.Transport(2)
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 64)
	}
	sizes := make([]int, 8)
	var got [][]byte
	for i := range 10000 {
		if err := a.Send(2, []byte{byte(i >> 8), byte(i), 0xaa, 0x55}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(100 * time.Microsecond)
		for {
			k, err := b.Receive(bufs, sizes)
			if err != nil {
				t.Fatal(err)
			}
			for j := range k {
				got = append(got, bytes.Clone(bufs[j][:sizes[j]]))
			}
			if k < len(bufs) {
				break
			}
		}
	}
	return n.Counters(), got
}

// TestRates: each impairment happens at about its configured rate, and a
// seed gives the same run every time.
func TestRates(t *testing.T) {
	l := Link{Loss: 0.05, Duplicate: 0.05, Reorder: 0.1, Corrupt: 0.01, Delay: time.Millisecond, Jitter: 100 * time.Microsecond}
	c, got := run(t, 1, l)
	near := func(name string, v uint64, rate float64) {
		want := rate * 10000
		if float64(v) < want*0.7 || float64(v) > want*1.3 {
			t.Errorf("%s = %d, want about %.0f", name, v, want)
		}
	}
	near("Dropped", c.Dropped, 0.05*1.05)
	near("Duplicated", c.Duplicated, 0.05)
	near("Reordered", c.Reordered, 0.1*0.95*1.05)
	near("Corrupted", c.Corrupted, 0.01*0.95*1.05)
	reordered := 0
	for i := 1; i < len(got); i++ {
		if int(got[i][0])<<8|int(got[i][1]) < int(got[i-1][0])<<8|int(got[i-1][1]) {
			reordered++
		}
	}
	if reordered == 0 {
		t.Error("nothing arrived out of order")
	}
	c2, got2 := run(t, 1, l)
	if c2 != c || len(got2) != len(got) {
		t.Fatalf("same seed, different run: %+v vs %+v", c, c2)
	}
	for i := range got {
		if !bytes.Equal(got[i], got2[i]) {
			t.Fatalf("same seed, datagram %d differs", i)
		}
	}
}

// TestDelay: nothing arrives before its delay on the injected clock.
func TestDelay(t *testing.T) {
	clk := clock.NewManual(0)
	n := NewNetwork(clk, 1)
	n.SetLink(1, 2, Link{Delay: 5 * time.Millisecond})
	a, b := n.Transport(1), n.Transport(2)
	if err := a.Send(2, []byte("x")); err != nil {
		t.Fatal(err)
	}
	buf, size := [][]byte{make([]byte, 8)}, []int{0}
	clk.Advance(4 * time.Millisecond)
	if k, _ := b.Receive(buf, size); k != 0 {
		t.Fatal("arrived early")
	}
	clk.Advance(time.Millisecond)
	if k, _ := b.Receive(buf, size); k != 1 || string(buf[0][:size[0]]) != "x" {
		t.Fatal("did not arrive on time")
	}
	b.Close()
	if err := a.Send(2, []byte("y")); err != nil || n.Counters().Unroutable != 1 {
		t.Fatalf("send to a closed member: %v, %+v", err, n.Counters())
	}
}
