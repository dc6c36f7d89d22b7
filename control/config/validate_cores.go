package config

import (
	"time"
)

func (c *Config) checkCores(r *report, m Machine) {
	cores := c.Cores
	checkCore(r, m, "cores.control_plane", cores.ControlPlane)
	switch {
	case cores.SyncWorker != NoCore:
		if checkCore(r, m, "cores.sync_worker", cores.SyncWorker) && cores.SyncWorker == cores.ControlPlane {
			r.warn("cores.sync_worker", cores.SyncWorker, "the sync worker shares core %d with the control plane", cores.ControlPlane)
		}
	case len(c.Peers) > 0:
		r.bad("cores.sync_worker", nil, "required: [[peers]] are given, so a sync worker runs")
	}

	intIn(r, "cores.worker_nice", cores.WorkerNice, -20, 19)

	coreOwner := map[int]string{}
	queueOwner := map[string]map[int]string{}
	for i, w := range cores.Workers {
		wk := index("cores.workers", i)
		ck := wk + ".core"
		if checkCore(r, m, ck, w.Core) {
			if prev, dup := coreOwner[w.Core]; dup {
				r.bad(ck, w.Core, "core %d is given twice (also %s): one worker a core, and it serves all of the core's queues", w.Core, prev)
			} else {
				coreOwner[w.Core] = ck
			}
			if w.Core == cores.ControlPlane {
				r.warn(ck, w.Core, "the worker shares core %d with the control plane: garbage collection and API work will delay its packets", w.Core)
			}
		}
		if len(w.Queues) == 0 {
			r.bad(wk+".queues", nil, "empty: a worker serves at least one queue, e.g. queues = { in0 = [0], out0 = [0] }")
		}
		for _, name := range sortedKeys(w.Queues) {
			qk := wk + "." + key("queues", name)
			qs := w.Queues[name]
			ifc, ok := c.Interfaces[name]
			switch {
			case !ok:
				r.bad(qk, qs, "interface %s is not declared in [interfaces]", name)
				continue
			case ifc.Role == RoleSync:
				r.bad(qk, qs, "%s is the sync interface: the sync worker serves its queues (cores.sync_worker)", name)
				continue
			case len(qs) == 0:
				r.bad(qk, qs, "empty: list the queues of %s this worker serves, or leave %s out", name, name)
			}
			if queueOwner[name] == nil {
				queueOwner[name] = map[int]string{}
			}
			for j, q := range qs {
				ek := index(qk, j)
				if q < 0 || q >= ifc.Queues {
					r.bad(ek, q, "queue %d does not exist: %s has %s (interfaces.%s.queues)", q, name, plural(ifc.Queues, "queue"), name)
					continue
				}
				if prev := queueOwner[name][q]; prev != "" {
					r.bad(ek, q, "queue %d of %s is given twice (also %s)", q, name, prev)
					continue
				}
				queueOwner[name][q] = ek
			}
		}
	}
	for _, name := range c.InterfaceNames() {
		ifc := c.Interfaces[name]
		if ifc.Role != RoleInside && ifc.Role != RoleOutside || ifc.Queues < 1 || ifc.Queues > 256 {
			continue
		}
		var missing []int
		for q := range ifc.Queues {
			if queueOwner[name][q] == "" {
				missing = append(missing, q)
			}
		}
		switch len(missing) {
		case 0:
		case 1:
			r.bad("cores.workers", nil, "queue %d of %s has no worker", missing[0], name)
		default:
			r.bad("cores.workers", nil, "queues %s of %s have no worker", formatCPUList(missing), name)
		}
	}
}

// checkCore reports a core that is negative or not on the machine.
func checkCore(r *report, m Machine, k string, core int) bool {
	if core < 0 {
		r.bad(k, core, "not a core: cores are numbered from 0")
		return false
	}
	if m.CPUs != nil && !m.hasCPU(core) {
		r.bad(k, core, "core %d does not exist on this machine (cores %s)", core, formatCPUList(m.CPUs))
		return false
	}
	return true
}

func (c *Config) checkBusyPoll(r *report) {
	b := c.BusyPoll
	if durIn(r, "busy_poll.timeout", b.Timeout, time.Microsecond, time.Second) && b.Timeout.Duration%time.Microsecond != 0 {
		r.bad("busy_poll.timeout", b.Timeout, "not a whole number of microseconds (SO_BUSY_POLL counts microseconds)")
	}
	intIn(r, "busy_poll.budget", b.Budget, 1, 65535)
	oneOf(r, "busy_poll.idle_fallback", b.IdleFallback, IdlePoll, IdleNeedWakeup)
	if !b.SpinWhenIdle {
		return
	}
	for _, w := range c.Cores.Workers {
		switch w.Core {
		case c.Cores.ControlPlane:
			r.warn("busy_poll.spin_when_idle", true, "the worker on core %d spins on the control plane's core: the control plane gets only what the scheduler takes from it", w.Core)
		case c.Cores.SyncWorker:
			r.warn("busy_poll.spin_when_idle", true, "the worker on core %d spins on the sync worker's core: sync gets only what the scheduler takes from it", w.Core)
		}
	}
}

func (c *Config) checkXDP(r *report, m Machine) {
	x := c.XDP
	oneOf(r, "xdp.attach_mode", x.AttachMode, "auto", "native", "generic")
	oneOf(r, "xdp.bind_mode", x.BindMode, "auto", "zero-copy", "copy")
	maxFrame := m.PageSize
	if maxFrame == 0 {
		maxFrame = 65536
	}
	if !isPowerOfTwo(x.FrameSize) || x.FrameSize < 2048 || x.FrameSize > maxFrame {
		r.bad("xdp.frame_size", x.FrameSize, "must be a power of two from 2048 to the page size (%d)", maxFrame)
	}
	for _, ring := range []struct {
		name string
		n    int
	}{{"rx_ring", x.RxRing}, {"tx_ring", x.TxRing}, {"fill_ring", x.FillRing}, {"completion_ring", x.CompletionRing}} {
		if !isPowerOfTwo(ring.n) || ring.n < 64 || ring.n > 65536 {
			r.bad("xdp."+ring.name, ring.n, "must be a power of two from 64 to 65536")
		}
	}
}
