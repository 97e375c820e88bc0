package top

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/livectl/livectl/internal/stats"
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

// maxStatsBody bounds what we read from /v1/stats: a server with thousands
// of rooms stays far below it, and a wrong target cannot exhaust memory.
const maxStatsBody = 32 << 20

// HTTPStats reads /v1/stats from a livectl server over HTTP.
type HTTPStats struct {
	// URL is the full /v1/stats address.
	URL    string
	Client *http.Client
}

var _ StatsSource = (*HTTPStats)(nil)

// NewHTTPStats returns a source for the server at target (a base URL such as
// http://127.0.0.1:7880). It has its own transport so that closing it drops
// its connections and nothing else's.
func NewHTTPStats(target string) (*HTTPStats, error) {
	u, err := StatsURL(target)
	if err != nil {
		return nil, err
	}
	return &HTTPStats{URL: u, Client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}, nil
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching stats from %s: %w", h.URL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching stats from %s: %w", h.URL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		msg := strings.TrimSpace(string(b))
		if msg != "" {
			msg = ": " + msg
		}
		return nil, fmt.Errorf("fetching stats from %s: HTTP %d%s (is --target a livectl server?)", h.URL, resp.StatusCode, msg)
	}
	var s stats.Snapshot
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxStatsBody))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("fetching stats from %s: response is not a stats document: %w", h.URL, err)
	}
	return &s, nil
}

// Close drops idle connections.
func (h *HTTPStats) Close() { h.Client.CloseIdleConnections() }

// unwrapURLError strips net/http's `Get "url": ` prefix, which would repeat
// the URL our own message already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
