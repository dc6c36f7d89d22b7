package main

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-gw/tandem/tools/lab"
	"github.com/tandem-gw/tandem/tools/lab/labtest"
)

// flap runs a pair through a false failover and then a real one: gw1 is
// stopped (SIGSTOP, a member "merely busy" beyond the dead time), gw2
// takes over and connections begin through it; gw1 resumes, both are
// active, gw2 gives way; more connections begin through gw1. Then gw1 is
// killed. It returns how many connections survived, of how many.
func flap(t *testing.T, adopt bool) (survived, total int) {
	l := labtest.New(t, lab.Config{Queues: 2})
	var env []string
	if !adopt {
		env = append(env, noAdoptEnv+"=1")
	}
	gw1 := startDaemon(t, "gw1", l.GW1, failoverConfig(t, 1), env...)
	gw1.waitFor(0, 20*time.Second, "role", "to=active")
	gw2 := startDaemon(t, "gw2", l.GW2, failoverConfig(t, 2), env...)
	gw2.waitFor(0, 20*time.Second, "role", "to=backup")
	srv, err := startEchoServer(l.Server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.close)
	time.Sleep(500 * time.Millisecond)

	mark := gw2.lines()
	if err := gw1.cmd.Process.Signal(unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	gw2.waitFor(mark, 5*time.Second, "role", "to=active")
	during, err := dialEchoConns(l.Client, 20)
	if err != nil {
		_ = gw1.cmd.Process.Signal(unix.SIGCONT)
		t.Fatalf("connections through gw2 while gw1 is stopped: %v", err)
	}
	mark = gw2.lines()
	if err := gw1.cmd.Process.Signal(unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	gw2.waitFor(mark, 5*time.Second, "role", "to=backup")
	time.Sleep(300 * time.Millisecond)
	after, err := dialEchoConns(l.Client, 20)
	if err != nil {
		t.Fatalf("connections through gw1 after the flap: %v", err)
	}
	conns := append(during, after...)
	for i, c := range conns {
		c.id = uint32(i)
		t.Cleanup(func() { c.c.Close() })
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range conns {
		c.run(len(conns), stop, &wg)
	}
	// Older than the notification delay, and adopted (once a second).
	time.Sleep(3 * time.Second)
	mark = gw2.lines()
	if err := gw1.cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw2.waitFor(mark, 5*time.Second, "role", "to=active")
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	for _, c := range conns {
		if why := c.broken(); why != "" {
			t.Log(why)
		} else {
			survived++
		}
	}
	return survived, len(conns)
}

// TestFlapThenFailover: connections that began through the backup during
// a false failover survive the real failover that follows, because the
// active adopts them once the flap is over.
func TestFlapThenFailover(t *testing.T) {
	survived, total := flap(t, true)
	if survived != total {
		t.Fatalf("%d of %d connections survived a flap and a failover", survived, total)
	}
}

// TestFlapThenFailoverWithoutAdoption is the control: without adoption
// the connections that began through the backup during the flap break at
// the failover.
func TestFlapThenFailoverWithoutAdoption(t *testing.T) {
	survived, total := flap(t, false)
	t.Logf("without adoption: %d of %d survived", survived, total)
	if survived == total {
		t.Fatal("every connection survived without adoption: the flap test cannot tell")
	}
}
