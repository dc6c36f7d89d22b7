package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tandem-gw/tandem/control/config"
)

// The runtime parameters, named as their config file keys.
const (
	ParamMaxBandwidth        = "sync.max_bandwidth"
	ParamDelayedNotification = "sync.delayed_notification"
)

// ErrUnknownParam is wrapped by ParseParam for a name it does not know.
var ErrUnknownParam = errors.New("unknown parameter")

// param is one runtime parameter: how to read its value, check it, apply
// it through the Backend and write it back.
type param struct {
	help  string
	get   func(Params) string
	apply func(b Backend, value string) (string, error) // returns the value now in effect
}

var params = map[string]param{
	ParamMaxBandwidth: {
		help: "sync bandwidth limit: bits (800Mbit, 1Gbit) or bytes (100MB/s) a second; 0 is unlimited",
		get:  func(p Params) string { return config.FormatBandwidth(p.MaxBandwidth) },
		apply: func(b Backend, v string) (string, error) {
			bps, err := ParseMaxBandwidth(v)
			if err != nil {
				return "", err
			}
			return config.FormatBandwidth(bps), b.SetMaxBandwidth(bps)
		},
	},
	ParamDelayedNotification: {
		help: "connections younger than this are not synced: a duration 0 to 10m (3s, 500ms)",
		get:  func(p Params) string { return config.FormatDuration(p.DelayedNotification) },
		apply: func(b Backend, v string) (string, error) {
			d, err := ParseDelayedNotification(v)
			if err != nil {
				return "", err
			}
			return config.FormatDuration(d), b.SetDelayedNotification(d)
		},
	},
}

// ParamNames lists the runtime parameters, sorted.
func ParamNames() []string {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParamHelp says what a parameter takes.
func ParamHelp(name string) string { return params[name].help }

// ParseMaxBandwidth reads a sync.max_bandwidth value by the config file's
// rules (control/config.ParseBandwidth, at least 1Mbit unless 0).
func ParseMaxBandwidth(v string) (uint64, error) {
	bps, err := config.ParseBandwidth(v)
	if err != nil {
		return 0, fmt.Errorf("%s = %q: %w", ParamMaxBandwidth, v, err)
	}
	if bps != 0 && bps < 1e6 {
		return 0, fmt.Errorf("%s = %q: below 1Mbit: too little for heartbeats and a full sync (0 means unlimited)", ParamMaxBandwidth, v)
	}
	return bps, nil
}

// ParseDelayedNotification reads a sync.delayed_notification value by the
// config file's rules (a duration with a unit, 0 to 10m).
func ParseDelayedNotification(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s = %q: not a duration: want a number and a unit, e.g. 3s, 500ms, 1m", ParamDelayedNotification, v)
	}
	if d < 0 || d > 10*time.Minute {
		return 0, fmt.Errorf("%s = %q: must be 0 to 10m", ParamDelayedNotification, v)
	}
	return d, nil
}

// unknownParam is the error for a name that is not a runtime parameter.
func unknownParam(name string) error {
	return fmt.Errorf("%w %q: the runtime parameters are %s", ErrUnknownParam, name, strings.Join(ParamNames(), ", "))
}

// CurrentParams returns each parameter's value as a config file writes it.
func CurrentParams(p Params) map[string]string {
	out := make(map[string]string, len(params))
	for n, pa := range params {
		out[n] = pa.get(p)
	}
	return out
}

func (s *Server) params(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, CurrentParams(s.b.Status().Params))
}

// maxBody bounds a request body.
const maxBody = 4096

func (s *Server) setParam(w http.ResponseWriter, r *http.Request) {
	var req SetParam
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: want {\"name\": ..., \"value\": ...}: %w", err))
		return
	}
	res, err := s.SetParam(req.Name, req.Value)
	switch {
	case errors.Is(err, ErrUnknownParam) || errors.Is(err, errBadValue):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		backendError(w, err)
	default:
		writeJSON(w, res)
	}
}

var errBadValue = errors.New("bad value")

type badValue struct{ error }

func (e badValue) Unwrap() []error { return []error{e.error, errBadValue} }

// SetParam validates and applies one parameter, and returns the value now
// in effect. An unknown name wraps ErrUnknownParam; a value that does not
// parse or is out of range is refused before the backend sees it.
func (s *Server) SetParam(name, value string) (ParamResult, error) {
	p, ok := params[name]
	if !ok {
		return ParamResult{}, unknownParam(name)
	}
	prev := p.get(s.b.Status().Params)
	if strings.TrimSpace(value) == "" {
		return ParamResult{}, badValue{fmt.Errorf("%s: no value: want %s", name, p.help)}
	}
	applied, err := p.apply(validateOnly{}, value)
	if err != nil {
		return ParamResult{}, badValue{err}
	}
	if _, err := p.apply(s.b, value); err != nil {
		return ParamResult{}, fmt.Errorf("setting %s to %s: %w", name, applied, err)
	}
	now := p.get(s.b.Status().Params)
	s.opts.Log.Info("parameter changed", "name", name, "value", now, "previous", prev)
	return ParamResult{Name: name, Value: now, Previous: prev}, nil
}

// validateOnly is a Backend whose setters do nothing, so that a value is
// checked before the real backend sees it.
type validateOnly struct{ Backend }

func (validateOnly) SetMaxBandwidth(uint64) error               { return nil }
func (validateOnly) SetDelayedNotification(time.Duration) error { return nil }
