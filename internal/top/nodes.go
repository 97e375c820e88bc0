package top

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// ClusterNode is one node of GET /v1/cluster, as the nodes view shows it.
type ClusterNode struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	State string `json:"state"`
	Load  struct {
		CPU        float64 `json:"cpu"`
		Sessions   int     `json:"sessions"`
		Tracks     int     `json:"tracks"`
		BitrateBps uint64  `json:"bitrate_bps"`
	} `json:"load"`
	Rooms map[string]int `json:"rooms"`
}

// ClusterRoom is one room of GET /v1/cluster.
type ClusterRoom struct {
	Room    string         `json:"room"`
	Origin  string         `json:"origin"`
	Members map[string]int `json:"members"`
}

// ClusterView is the part of GET /v1/cluster the nodes view shows.
type ClusterView struct {
	Node  string        `json:"node"`
	Error string        `json:"error"`
	Nodes []ClusterNode `json:"nodes"`
	Rooms []ClusterRoom `json:"rooms"`
}

// ErrNoCluster: the server has no /v1/cluster (it runs without --cluster).
var ErrNoCluster = errors.New("this server is not part of a cluster")

// ClusterSource fetches the cluster view; the dashboard calls it off the
// UI goroutine, only while the nodes view is shown.
type ClusterSource interface {
	FetchCluster(ctx context.Context) (*ClusterView, error)
}

var _ ClusterSource = (*HTTPStats)(nil)

// FetchCluster implements ClusterSource: GET /v1/cluster beside /v1/stats.
// A 503 still carries the view (with Error set: the node lost Redis).
func (h *HTTPStats) FetchCluster(ctx context.Context) (*ClusterView, error) {
	u := strings.TrimSuffix(h.URL, "/v1/stats") + "/v1/cluster"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusServiceUnavailable:
	case http.StatusNotFound:
		return nil, ErrNoCluster
	default:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var v ClusterView
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 8<<20)).Decode(&v); err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	return &v, nil
}

// clusterMsg is the result of one cluster fetch.
type clusterMsg struct {
	view *ClusterView
	err  error
	end  time.Time
}

// fetchCluster polls /v1/cluster at the stats interval while the nodes
// view is shown.
func (m *Model) fetchCluster() tea.Cmd {
	if m.view != ViewNodes || m.clInflight || m.now.Before(m.clNext) || m.opts.Cluster == nil {
		return nil
	}
	m.clInflight = true
	src, ctx, now, timeout := m.opts.Cluster, m.ctx, m.opts.Now, m.fetchTimeout()
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v, err := src.FetchCluster(ctx)
		return clusterMsg{view: v, err: err, end: now()}
	}
}

func (m *Model) onCluster(msg clusterMsg) {
	m.clInflight = false
	m.clNext = msg.end.Add(m.opts.Interval)
	if m.paused {
		return
	}
	m.cl, m.clErr = msg.view, msg.err
	if msg.err == nil {
		m.clAt = msg.end
	}
}

// nodesView renders the cluster: one line per node, then one per room.
func (m *Model) nodesView() string {
	switch {
	case m.opts.Cluster == nil || errors.Is(m.clErr, ErrNoCluster):
		return labelStyle.Render("this server runs alone (no --cluster): no nodes to show")
	case m.cl == nil && m.clErr == nil:
		return labelStyle.Render("fetching /v1/cluster …")
	case m.cl == nil:
		return errStyle.Render(fmt.Sprintf("/v1/cluster: %v", m.clErr))
	}
	var b strings.Builder
	head := fmt.Sprintf("%d nodes, %d rooms · seen from %s, %s ago", len(m.cl.Nodes), len(m.cl.Rooms), m.cl.Node, formatAge(m.now.Sub(m.clAt)))
	b.WriteString(labelStyle.Render(head) + "\n")
	// Errors on their own lines, so a narrow terminal still shows them.
	if m.clErr != nil {
		b.WriteString(errStyle.Render(m.clErr.Error()) + "\n")
	}
	if m.cl.Error != "" {
		b.WriteString(warnStyle.Render("from this node only: "+m.cl.Error) + "\n")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-16s %-9s %6s %9s %7s %11s %6s  %s\n", "NODE", "STATE", "CPU", "SESSIONS", "TRACKS", "BITRATE", "ROOMS", "URL")
	for _, n := range m.cl.Nodes {
		fmt.Fprintf(&b, "%-16s %-9s %6.2f %9d %7d %11s %6d  %s\n", n.ID, n.State, n.Load.CPU, n.Load.Sessions, n.Load.Tracks,
			formatBits(float64(n.Load.BitrateBps)), len(n.Rooms), n.URL)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-24s %-16s %s\n", "ROOM", "ORIGIN", "MEMBERS BY NODE")
	for _, r := range m.cl.Rooms {
		if f := m.filter.Value(); f != "" && !strings.Contains(r.Room, f) {
			continue
		}
		ids := make([]string, 0, len(r.Members))
		for id := range r.Members {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = fmt.Sprintf("%s:%d", id, r.Members[id])
		}
		origin := r.Origin
		if origin == "" {
			origin = "—"
		}
		fmt.Fprintf(&b, "%-24s %-16s %s\n", r.Room, origin, strings.Join(parts, " "))
	}
	return strings.TrimRight(b.String(), "\n")
}
