package syncpath_test

import (
	"errors"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/tandem-gw/tandem/syncpath"
)

// inNetNS runs fn on a thread moved into a fresh network namespace with
// its loopback up, so sockets fn opens never touch the host's network.
// It skips without root, and fails instead when CI=true.
func inNetNS(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (CAP_SYS_ADMIN) for a network namespace")
		}
		t.Skip("needs root (CAP_SYS_ADMIN) for a network namespace")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no unlock: the thread dies with this goroutine, the namespace with its sockets
		ns, err := netns.New()
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err == nil {
			fn()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("setting up a network namespace: %v", err)
	}
}

// udpPair opens two kernel UDP transports on the loopback of a private
// namespace, a (the active's) and b (the backup's), each the other's peer,
// closed when the test ends.
func udpPair(t *testing.T) (a, b *syncpath.UDPTransport) {
	t.Helper()
	inNetNS(t, func() {
		var err error
		lo := netip.MustParseAddr("127.0.0.1")
		if a, err = syncpath.ListenUDP(syncpath.UDPConfig{Local: netip.AddrPortFrom(lo, 0)}); err != nil {
			t.Error(err)
			return
		}
		if b, err = syncpath.ListenUDP(syncpath.UDPConfig{Local: netip.AddrPortFrom(lo, 0)}); err != nil {
			a.Close()
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	a.SetPeer(backupID, b.LocalAddr())
	b.SetPeer(activeID, a.LocalAddr())
	return a, b
}

// TestUDPTransport replicates connections between two sessions over
// kernel UDP sockets on the loopback of a private namespace.
func TestUDPTransport(t *testing.T) {
	a, b := udpPair(t)

	r := newRig(t, lossy, syncpath.Knobs{})
	r.active = r.newMemberOn(activeID, backupID, 1000, true, a)
	r.backup = r.newMemberOn(backupID, activeID, 2000, false, b)
	r.create(500)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.step() // the manual clock drives timers; the sockets are real
		if r.active.sess.Idle() && r.backup.sess.Synced() && r.equal() {
			break
		}
	}
	if !r.equal() {
		r.report()
		t.Fatal("tables differ over UDP")
	}
	if _, ok := r.backup.table.Get(r.live[0]); !ok {
		t.Fatal("connection missing on the backup")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(backupID, []byte{1}); !errors.Is(err, syncpath.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

// TestUDPReceiveWithin: ReceiveWithin(0) takes the datagrams already queued
// (a read with a deadline in the past would take none), returns 0 at once
// when there is none, and a wait of a millisecond or more waits.
func TestUDPReceiveWithin(t *testing.T) {
	a, b := udpPair(t)
	bufs := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64)}
	sizes := make([]int, len(bufs))
	if n, err := b.ReceiveWithin(bufs, sizes, 0); n != 0 || err != nil {
		t.Fatalf("nothing queued: %d, %v", n, err)
	}
	for _, p := range []string{"one", "two"} {
		if err := a.Send(backupID, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	for deadline := time.Now().Add(2 * time.Second); n < 2 && time.Now().Before(deadline); {
		got, err := b.ReceiveWithin(bufs[n:], sizes[n:], 0)
		if err != nil {
			t.Fatal(err)
		}
		n += got
	}
	if n != 2 || string(bufs[0][:sizes[0]]) != "one" || string(bufs[1][:sizes[1]]) != "two" {
		t.Fatalf("received %d datagrams without waiting: %q %q", n, bufs[0][:sizes[0]], bufs[1][:sizes[1]])
	}
	start := time.Now()
	if n, err := b.ReceiveWithin(bufs, sizes, 20*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("nothing sent: %d, %v", n, err)
	}
	if waited := time.Since(start); waited < 15*time.Millisecond {
		t.Fatalf("a 20ms wait returned after %v", waited)
	}
}
