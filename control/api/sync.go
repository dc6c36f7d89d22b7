package api

import (
	"net/http"
	"reflect"
	"time"

	"github.com/tandem-gw/tandem/syncpath"
)

// gaugeFields are the syncpath.Counters fields that are not cumulative:
// a reset leaves them as read. Every other unsigned field is a count.
var gaugeFields = map[string]bool{
	"QueueDepth": true, "InFlight": true, "PeerAlive": true, "RTT": true,
	"FullSyncNanos": true, "FullSyncRecvNanos": true,
}

// IsGauge reports whether the syncpath.Counters field of that name is a
// gauge (as read) rather than a cumulative count.
func IsGauge(field string) bool { return gaugeFields[field] }

// subtract sets every cumulative field of c to c minus base; a field below
// its baseline (the session restarted) is left as read.
func subtract(c *syncpath.Counters, base *syncpath.Counters) {
	subtractValue(reflect.ValueOf(c).Elem(), reflect.ValueOf(base).Elem())
}

func subtractValue(v, b reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := v.Field(i)
		switch {
		case gaugeFields[t.Field(i).Name]:
		case f.Kind() == reflect.Struct:
			subtractValue(f, b.Field(i))
		case f.Kind() == reflect.Uint64:
			if cur, old := f.Uint(), b.Field(i).Uint(); cur >= old {
				f.SetUint(cur - old)
			}
		}
	}
}

// completedFullSyncs is the number of full syncs finished either way.
func completedFullSyncs(c *syncpath.Counters) uint64 { return c.FullSyncsSent + c.FullSyncsReceived }

func (s *Server) syncStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, SyncStats{Peers: s.SyncStats()})
}

// SyncStats is what GET /v1/sync returns: the backend's figures less the
// baselines, with the sampled bandwidth and full-sync time.
func (s *Server) SyncStats() []PeerSync {
	peers := s.b.SyncStats()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range peers {
		p := &peers[i]
		p.LastFullSyncDuration = time.Duration(max(p.Counters.FullSyncNanos, p.Counters.FullSyncRecvNanos))
		p.BandwidthUsed = s.rates[p.Peer]
		p.LastFullSync = s.fullSync[p.Peer]
		if base, ok := s.baselines[p.Peer]; ok {
			subtract(&p.Counters, &base.Counters)
			p.ResetAt = base.ResetAt
		}
	}
	return peers
}

// Sampled is what the server measures of one peer's session rather than
// reads from it.
type Sampled struct {
	BandwidthUsed uint64    // bits per second sent over the last sampling interval
	LastFullSync  time.Time // when a completed full sync was first seen; zero: none
}

// Sampled returns the sampled figures by peer id, for the metrics.
func (s *Server) Sampled() map[int]Sampled {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]Sampled, len(s.last))
	for id := range s.last {
		out[id] = Sampled{BandwidthUsed: s.rates[id], LastFullSync: s.fullSync[id]}
	}
	return out
}

func (s *Server) syncReset(w http.ResponseWriter, _ *http.Request) {
	peers := s.b.SyncStats()
	now := s.opts.Now()
	s.mu.Lock()
	for _, p := range peers {
		p.ResetAt = now
		s.baselines[p.Peer] = p
	}
	s.mu.Unlock()
	s.opts.Log.Info("syncstat counters reset", "peers", len(peers))
	writeJSON(w, SyncStats{Peers: s.SyncStats()})
}

// Sample takes one sample of the sync sessions (bandwidth used, full syncs
// completed) and of core usage. Start runs it every SampleInterval.
func (s *Server) Sample() {
	peers := s.b.SyncStats()
	cpu, cpuErr := readCPUTimes(s.opts.ProcStat)
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range peers {
		cur := sample{at: now, bytesSent: p.Counters.BytesSent, fullSyncs: completedFullSyncs(&p.Counters)}
		if prev, ok := s.last[p.Peer]; ok {
			if dt := now.Sub(prev.at); dt > 0 && cur.bytesSent >= prev.bytesSent {
				s.rates[p.Peer] = uint64(float64(cur.bytesSent-prev.bytesSent) * 8 / dt.Seconds())
			}
			if cur.fullSyncs != prev.fullSyncs {
				s.fullSync[p.Peer] = now
			}
		} else if cur.fullSyncs > 0 {
			s.fullSync[p.Peer] = now // done before the server started: as of now
		}
		s.last[p.Peer] = cur
	}
	if cpuErr == nil {
		if s.cpuPrev != nil {
			s.cpus = cpuUsage(s.cpuPrev, cpu)
		}
		s.cpuPrev = cpu
	}
}

func (s *Server) sampler() {
	defer close(s.samplerDone)
	s.Sample()
	t := time.NewTicker(s.opts.SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopSampler:
			return
		case <-t.C:
			s.Sample()
		}
	}
}
