package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero fields take the defaults said beside
// them.
type Options struct {
	Log *slog.Logger // default: discard
	// Now is the wall clock (default time.Now); tests set it.
	Now func() time.Time
	// ProcStat is the path of the kernel's CPU statistics (default
	// /proc/stat); empty CPU figures when it cannot be read.
	ProcStat string
	// SampleInterval is how often the server samples bandwidth, full
	// syncs and core usage (default 1s).
	SampleInterval time.Duration
}

// Server serves the API over a Backend. Its handlers are safe for
// concurrent use; the sampling state and the baselines are guarded by mu.
type Server struct {
	b    Backend
	opts Options
	mux  *http.ServeMux

	mu        sync.Mutex
	baselines map[int]PeerSync // by peer id: counters at the last reset
	last      map[int]sample   // by peer id: the previous sample
	fullSync  map[int]time.Time
	rates     map[int]uint64 // by peer id: bits per second sent
	cpuPrev   []cpuTimes
	cpus      []CPU

	stopSampler chan struct{}
	samplerDone chan struct{}
	servers     []*http.Server
	paths       []string // unix socket paths to remove on Close
	tcpAddr     string
}

// TCPAddr is the address of the TCP listener, empty without one.
func (s *Server) TCPAddr() string { return s.tcpAddr }

type sample struct {
	at        time.Time
	bytesSent uint64
	fullSyncs uint64 // completed, sent plus received
}

// NewServer returns a Server over b. Call Sample (or Start, which runs it
// every SampleInterval) for bandwidth and core figures.
func NewServer(b Backend, opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ProcStat == "" {
		opts.ProcStat = "/proc/stat"
	}
	if opts.SampleInterval <= 0 {
		opts.SampleInterval = time.Second
	}
	s := &Server{
		b: b, opts: opts, mux: http.NewServeMux(),
		baselines: map[int]PeerSync{}, last: map[int]sample{},
		fullSync: map[int]time.Time{}, rates: map[int]uint64{},
	}
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("GET /v1/members", s.members)
	s.mux.HandleFunc("GET /v1/sync", s.syncStats)
	s.mux.HandleFunc("POST /v1/sync/reset", s.syncReset)
	s.mux.HandleFunc("GET /v1/sockets", s.sockets)
	s.mux.HandleFunc("GET /v1/workers", s.workers)
	s.mux.HandleFunc("GET /v1/conns", s.conns)
	s.mux.HandleFunc("GET /v1/cpu", s.cpu)
	s.mux.HandleFunc("GET /v1/params", s.params)
	s.mux.HandleFunc("POST /v1/params", s.setParam)
	s.mux.HandleFunc("POST /v1/failover", s.failover)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no endpoint %s %s (see tandemctl help)", r.Method, r.URL.Path))
	})
	return s
}

// Handler returns the API's handler, without authentication (the unix
// socket's file mode is its access control).
func (s *Server) Handler() http.Handler { return s.mux }

// TokenHandler returns the API's handler behind a bearer token check, for
// the TCP listener.
func (s *Server) TokenHandler(token string) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tandemd"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token (api.token_file)"))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Listen describes where Start serves.
type Listen struct {
	Socket     string      // unix socket path; required
	SocketMode os.FileMode // default 0600
	TCP        string      // ip:port; empty: no TCP listener
	TokenFile  string      // bearer token for TCP; required with TCP
}

// Start listens on the unix socket (and TCP address) and serves until
// Close; it also starts the sampler. A stale socket file left by a dead
// tandemd is replaced; a live one is an error.
func (s *Server) Start(l Listen) (err error) {
	if l.Socket == "" {
		return errors.New("api: no socket path")
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	ln, err := listenUnix(l.Socket, l.SocketMode)
	if err != nil {
		return err
	}
	s.paths = append(s.paths, l.Socket)
	s.serve(ln, s.Handler())
	if l.TCP != "" {
		tok, err := readToken(l.TokenFile)
		if err != nil {
			return err
		}
		tln, err := net.Listen("tcp", l.TCP)
		if err != nil {
			return fmt.Errorf("api: listening on %s: %w", l.TCP, err)
		}
		s.tcpAddr = tln.Addr().String()
		s.serve(tln, s.TokenHandler(tok))
	}
	s.stopSampler, s.samplerDone = make(chan struct{}), make(chan struct{})
	go s.sampler()
	return nil
}

func (s *Server) serve(ln net.Listener, h http.Handler) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelWarn)}
	s.servers = append(s.servers, hs)
	s.opts.Log.Info("api listening", "address", ln.Addr().String())
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Log.Error("api server", "address", ln.Addr().String(), "err", err)
		}
	}()
}

// Close stops the listeners and the sampler and removes the socket file.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, hs := range s.servers {
		_ = hs.Shutdown(ctx)
	}
	s.servers = nil
	if s.stopSampler != nil {
		close(s.stopSampler)
		<-s.samplerDone
		s.stopSampler = nil
	}
	for _, p := range s.paths {
		_ = os.Remove(p)
	}
	s.paths = nil
}

func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	if mode == 0 {
		mode = 0o600
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("api: socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("api: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("api: %s is in use: another tandemd serves it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("api: removing stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api: listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: socket mode: %w", err)
	}
	return ln, nil
}

func readToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("api: api.tcp is set and api.token_file is not: the TCP listener needs a token")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api: token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("api: token in %s is %d characters: want at least 16", path, len(tok))
	}
	return tok, nil
}

// ---- replies ----

type errorReply struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorReply{Error: err.Error()})
}

// backendError maps a Backend error to its status code.
func backendError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotSupported):
		writeError(w, http.StatusNotImplemented, err)
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, err)
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}

// ---- handlers ----

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	st := s.b.Status()
	if !st.Started.IsZero() {
		st.Uptime = s.opts.Now().Sub(st.Started).Truncate(time.Second)
	}
	writeJSON(w, st)
}

func (s *Server) members(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.b.Members())
}

func (s *Server) sockets(w http.ResponseWriter, _ *http.Request) {
	socks, err := s.b.Sockets()
	if err != nil {
		backendError(w, err)
		return
	}
	writeJSON(w, Sockets{Sockets: socks})
}

func (s *Server) workers(w http.ResponseWriter, _ *http.Request) {
	ws, err := s.b.Workers()
	if err != nil {
		backendError(w, err)
		return
	}
	ws.Drops = map[string]uint64{}
	for _, wk := range ws.Workers {
		for name, v := range wk.Counters {
			if strings.HasPrefix(name, "drop_") && v != 0 {
				ws.Drops[strings.TrimPrefix(name, "drop_")] += v
			}
		}
	}
	writeJSON(w, ws)
}

func (s *Server) cpu(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := CPUs{CPUs: append([]CPU{}, s.cpus...)}
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) failover(w http.ResponseWriter, _ *http.Request) {
	res, err := s.b.Failover()
	if err != nil {
		backendError(w, fmt.Errorf("failover: %w", err))
		return
	}
	s.opts.Log.Info("planned failover", "before", res.Before, "after", res.After)
	writeJSON(w, res)
}
