package syncpath_test

import (
	"testing"
	"time"

	"github.com/tandem-gw/tandem/syncpath"
	"github.com/tandem-gw/tandem/syncpath/synctest"
)

// waitRecorder is a synctest transport (which never waits) that offers
// ReceiveWithin too and records the waits the session asks for.
type waitRecorder struct {
	*synctest.Transport
	waits []time.Duration // one per ReceiveWithin call
	plain int             // Receive calls: the transport's own interval
}

func (w *waitRecorder) Receive(bufs [][]byte, sizes []int) (int, error) {
	w.plain++
	return w.Transport.Receive(bufs, sizes)
}

func (w *waitRecorder) ReceiveWithin(bufs [][]byte, sizes []int, wait time.Duration) (int, error) {
	w.waits = append(w.waits, wait)
	return w.Transport.Receive(bufs, sizes)
}

func (w *waitRecorder) reset() { w.waits, w.plain = nil, 0 }

func poll(t *testing.T, m *member) {
	t.Helper()
	if _, err := m.sess.Poll(); err != nil {
		t.Fatal(err)
	}
}

// TestReceiveWaitBoundedByWork: a session waits in Receive for the
// transport's whole interval only when it has nothing to do sooner. With
// records to send it does not wait, and a backup holding an ack due in
// AckIdle waits no longer than that. (Waiting the whole interval put the
// lag's median at 1.2 ms at 100K connections/s in BenchmarkReplicate.)
func TestReceiveWaitBoundedByWork(t *testing.T) {
	r := newRig(t, synctest.Link{}, syncpath.Knobs{})
	ra := &waitRecorder{Transport: r.net.Transport(activeID)}
	rb := &waitRecorder{Transport: r.net.Transport(backupID)}
	r.active = r.newMemberOn(activeID, backupID, 1000, true, ra)
	r.backup = r.newMemberOn(backupID, activeID, 2000, false, rb)
	r.mustConverge(r.settle(time.Second), "empty tables")

	ra.reset()
	rb.reset()
	poll(t, r.active)
	poll(t, r.backup)
	if len(ra.waits) != 0 || len(rb.waits) != 0 || ra.plain == 0 || rb.plain == 0 {
		t.Fatalf("idle: waits %v / %v, plain receives %d / %d; want the transports' own interval only",
			ra.waits, rb.waits, ra.plain, rb.plain)
	}

	// Records in the active's sink: it does not wait before sending them.
	r.create(10)
	ra.reset()
	poll(t, r.active)
	if len(ra.waits) == 0 || ra.waits[0] != 0 {
		t.Fatalf("records waiting in the sink: waits %v, plain %d; want a first wait of 0", ra.waits, ra.plain)
	}

	// The backup takes the frame and acks at once (its last ack is old).
	poll(t, r.backup)
	// A second frame 100µs later: its ack is due AckIdle (250µs) after
	// the first one, and the backup waits no longer than that.
	r.create(10)
	poll(t, r.active)
	r.clk.Advance(100 * time.Microsecond)
	poll(t, r.backup) // receives, and holds the ack
	rb.reset()
	poll(t, r.backup)
	if len(rb.waits) == 0 || rb.waits[0] != 150*time.Microsecond {
		t.Fatalf("ack due in 150µs: waits %v, plain %d; want a first wait of 150µs", rb.waits, rb.plain)
	}
}
