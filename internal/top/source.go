package top

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/livectl/livectl/internal/stats"
	"github.com/livectl/livectl/internal/tlsconf"
)

// StatsSource fetches one /v1/stats document. The dashboard calls it off the
// UI goroutine with a deadline on ctx.
type StatsSource interface {
	FetchStats(ctx context.Context) (*stats.Snapshot, error)
}

// GoroutineGroup is one group of goroutines with an identical stack.
type GoroutineGroup struct {
	Count int      `json:"count"`
	State string   `json:"state"`
	Top   string   `json:"top"`
	Stack []string `json:"stack,omitempty"`
}

// GoroutineSummary is the top goroutine groups of a process, largest first.
type GoroutineSummary struct {
	Total  int              `json:"total"`
	Groups []GoroutineGroup `json:"groups"`
}

// GoroutineSource fetches the largest goroutine groups from a pprof admin
// listener. It is an interface so that the model can be tested without a
// profiled process; the real one wraps internal/inspect.
type GoroutineSource interface {
	TopGoroutines(ctx context.Context, n int) (*GoroutineSummary, error)
}

// HTTPStats reads /v1/stats from a livectl server over HTTP.
type HTTPStats struct {
	// URL is the full /v1/stats address.
	URL    string
	Client *http.Client
	// Fallback, if set, is another /v1/stats address (the admin
	// listener's) used once URL answers 404: a server with auth on serves
	// its stats on the admin listener only.
	Fallback string

	mu  sync.Mutex
	use string // the address that answered last; URL until then
}

var _ StatsSource = (*HTTPStats)(nil)

// NewHTTPStats returns a source for the server at target (a base URL such as
// http://127.0.0.1:7880 or https://…; tlsCfg, if not nil, is its TLS). It
// has its own transport so that closing it drops its connections and
// nothing else's.
func NewHTTPStats(target string, tlsCfg *tls.Config) (*HTTPStats, error) {
	u, err := StatsURL(target)
	if err != nil {
		return nil, err
	}
	return &HTTPStats{URL: u, Client: &http.Client{Transport: tlsconf.Transport(tlsCfg)}}, nil
}

// StatsURL turns a --target base URL into its /v1/stats address. A bare
// host:port is taken as http.
func StatsURL(target string) (string, error) {
	if target == "" {
		return "", errors.New("no target: give the server's base URL, e.g. http://127.0.0.1:7880")
	}
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("invalid target %q: %v", target, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("invalid target %q: scheme must be http or https", target)
	}
	if u.Host == "" {
		return "", fmt.Errorf("invalid target %q: no host", target)
	}
	// A target copied from a signaling URL (ws://host/ws) still works.
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/ws")
	u.Path = strings.TrimSuffix(u.Path, "/v1/stats") + "/v1/stats"
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// FetchStats implements StatsSource.
func (h *HTTPStats) FetchStats(ctx context.Context) (*stats.Snapshot, error) {
	h.mu.Lock()
	u := h.use
	h.mu.Unlock()
	if u == "" {
		u = h.URL
	}
	snap, err := stats.Fetch(ctx, h.Client, u)
	var se *stats.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound && h.Fallback != "" && u != h.Fallback {
		if snap, err = stats.Fetch(ctx, h.Client, h.Fallback); err == nil {
			h.mu.Lock()
			h.use = h.Fallback
			h.mu.Unlock()
		}
	}
	return snap, err
}

// Where is the /v1/stats address that answered last (URL or Fallback).
func (h *HTTPStats) Where() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.use == "" {
		return h.URL
	}
	return h.use
}

// Close drops idle connections.
func (h *HTTPStats) Close() { h.Client.CloseIdleConnections() }
