package main

import (
	"slices"
	"time"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/control/metrics"
)

// startOperator starts the operator interfaces of a running member: the
// API (control/api) on api.socket, and api.tcp with its token, and the
// Prometheus endpoint on metrics.listen. They are for people and
// monitoring, not for forwarding: one that cannot start (a socket another
// tandemd serves, a missing token file, a taken port) is logged as an
// error and the gateway runs on without it.
func (m *member) startOperator() error {
	o := &operator{started: time.Now()}
	o.maxBits.Store(m.cfg.Sync.MaxBandwidth.BitsPerSecond)
	if p, err := planFrom(m.cfg); err == nil {
		o.workerCPUs = slices.Clone(p.engine.Cores)
	}
	operators.mu.Lock()
	if operators.m == nil {
		operators.m = map[*member]*operator{}
	}
	operators.m[m] = o
	operators.mu.Unlock()

	c := m.cfg.API
	srv := api.NewServer(m, api.Options{Log: m.log})
	var sampled func() map[int]api.Sampled
	if err := srv.Start(api.Listen{Socket: c.Socket, SocketMode: 0o600, TCP: c.TCP, TokenFile: c.TokenFile}); err != nil {
		m.log.Error("the operator API is off", "err", err)
	} else {
		o.api = srv
		sampled = srv.Sampled
	}
	if l := m.cfg.Metrics.Listen; l != "" {
		ms, err := metrics.Serve(l, m, sampled, m.log)
		if err != nil {
			m.log.Error("the metrics endpoint is off", "err", err)
		} else {
			o.metrics = ms
			m.log.Info("metrics listening", "address", ms.Addr())
		}
	}
	return nil
}

// stopOperator stops what startOperator started.
func (m *member) stopOperator() {
	operators.mu.Lock()
	o := operators.m[m]
	delete(operators.m, m)
	operators.mu.Unlock()
	if o == nil {
		return
	}
	if o.api != nil {
		o.api.Close()
	}
	if o.metrics != nil {
		o.metrics.Close()
	}
}
