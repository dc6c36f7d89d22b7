package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultSocket is where tandemd serves the API unless api.socket says
// otherwise.
const DefaultSocket = "/run/tandem/tandemd.sock"

// Client calls a tandemd's API. It is safe for concurrent use.
type Client struct {
	hc    *http.Client
	base  string
	token string
	where string // for messages
}

// Error is an error reply of the API: its status code and message.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// NewUnixClient returns a Client for the API on the unix socket at path.
func NewUnixClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 2,
	}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}, base: "http://tandemd", where: path}
}

// NewTCPClient returns a Client for the API at host:port with a bearer
// token.
func NewTCPClient(addr, token string) *Client {
	return &Client{hc: &http.Client{Timeout: 10 * time.Second}, base: "http://" + addr, token: token, where: addr}
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return fmt.Errorf("cannot reach tandemd at %s (is it running? --socket): %w", c.where, ne.Err)
		}
		return fmt.Errorf("calling tandemd at %s: %w", c.where, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading tandemd's reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorReply
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &Error{Code: resp.StatusCode, Message: e.Error}
		}
		return &Error{Code: resp.StatusCode, Message: fmt.Sprintf("tandemd replied %s: %s", resp.Status, strings.TrimSpace(string(data)))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding tandemd's reply to %s %s: %w", method, path, err)
	}
	return nil
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var v Status
	return v, c.do(ctx, http.MethodGet, "/v1/status", nil, &v)
}

// Members is GET /v1/members.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var v []Member
	return v, c.do(ctx, http.MethodGet, "/v1/members", nil, &v)
}

// SyncStats is GET /v1/sync.
func (c *Client) SyncStats(ctx context.Context) (SyncStats, error) {
	var v SyncStats
	return v, c.do(ctx, http.MethodGet, "/v1/sync", nil, &v)
}

// ResetSync is POST /v1/sync/reset; it returns the figures after the reset.
func (c *Client) ResetSync(ctx context.Context) (SyncStats, error) {
	var v SyncStats
	return v, c.do(ctx, http.MethodPost, "/v1/sync/reset", nil, &v)
}

// Sockets is GET /v1/sockets.
func (c *Client) Sockets(ctx context.Context) (Sockets, error) {
	var v Sockets
	return v, c.do(ctx, http.MethodGet, "/v1/sockets", nil, &v)
}

// Workers is GET /v1/workers.
func (c *Client) Workers(ctx context.Context) (Workers, error) {
	var v Workers
	return v, c.do(ctx, http.MethodGet, "/v1/workers", nil, &v)
}

// Conns is GET /v1/conns: one page.
func (c *Client) Conns(ctx context.Context, q ConnQuery) (Conns, error) {
	var v Conns
	path := "/v1/conns"
	if qs := q.Values().Encode(); qs != "" {
		path += "?" + qs
	}
	return v, c.do(ctx, http.MethodGet, path, nil, &v)
}

// CPU is GET /v1/cpu.
func (c *Client) CPU(ctx context.Context) (CPUs, error) {
	var v CPUs
	return v, c.do(ctx, http.MethodGet, "/v1/cpu", nil, &v)
}

// Params is GET /v1/params.
func (c *Client) Params(ctx context.Context) (map[string]string, error) {
	var v map[string]string
	return v, c.do(ctx, http.MethodGet, "/v1/params", nil, &v)
}

// SetParam is POST /v1/params.
func (c *Client) SetParam(ctx context.Context, name, value string) (ParamResult, error) {
	var v ParamResult
	return v, c.do(ctx, http.MethodPost, "/v1/params", SetParam{Name: name, Value: value}, &v)
}

// Failover is POST /v1/failover.
func (c *Client) Failover(ctx context.Context) (FailoverResult, error) {
	var v FailoverResult
	return v, c.do(ctx, http.MethodPost, "/v1/failover", nil, &v)
}
