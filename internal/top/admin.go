package top

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/livectl/livectl/internal/inspect"
	"github.com/livectl/livectl/internal/tlsconf"
)

// AdminSource reads goroutine groups from a pprof admin listener through
// internal/inspect, the one implementation of pprof fetching and grouping.
type AdminSource struct {
	client *inspect.Client
	hc     *http.Client
}

var _ GoroutineSource = (*AdminSource)(nil)

// NewAdminSource returns the goroutine-group source for an admin (pprof)
// listener at admin, or nil when admin is empty (the view is disabled).
func NewAdminSource(admin string, tlsCfg *tls.Config) (*AdminSource, error) {
	if admin == "" {
		return nil, nil
	}
	hc := &http.Client{Transport: tlsconf.Transport(tlsCfg)}
	c, err := inspect.NewClient(admin, hc)
	if err != nil {
		return nil, err
	}
	return &AdminSource{client: c, hc: hc}, nil
}

// TopGoroutines implements GoroutineSource. It fetches the protobuf
// goroutine profile, not the debug=2 dump: states are then inferred from the
// runtime frames, which is enough for a dashboard and costs the server far
// less than formatting every goroutine as text each refresh.
func (a *AdminSource) TopGoroutines(ctx context.Context, n int) (*GoroutineSummary, error) {
	gp, err := a.client.FetchGoroutines(ctx)
	if err != nil {
		return nil, err
	}
	rep := inspect.GroupProfile(gp, inspect.GroupOptions{Top: n})
	out := &GoroutineSummary{Total: int(rep.Total), Groups: make([]GoroutineGroup, len(rep.Groups))}
	for i, g := range rep.Groups {
		top := g.Top
		if top == "" && len(g.Stack) > 0 {
			top = g.Stack[0] // a stack of runtime frames only
		}
		out.Groups[i] = GoroutineGroup{Count: int(g.Count), State: g.State, Top: top, Stack: g.Stack}
	}
	return out, nil
}

// Close drops idle connections.
func (a *AdminSource) Close() { a.hc.CloseIdleConnections() }
