package top

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

const clusterDoc = `{"node":"a","nodes":[
 {"id":"a","url":"http://node-a:7880","state":"serving","load":{"cpu":0.25,"sessions":250,"tracks":2,"bitrate_bps":3000000},"rooms":{"live":250}},
 {"id":"b","url":"http://node-b:7880","state":"draining","load":{"cpu":1.5,"sessions":4000,"tracks":0,"bitrate_bps":0},"rooms":{"live":4000}}],
 "rooms":[{"room":"live","origin":"a","members":{"a":250,"b":4000}}]}`

// The nodes view polls GET /v1/cluster only while shown and lists nodes
// and rooms; a server without a cluster says so.
func TestNodesView(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   []string
	}{
		{"cluster", http.StatusOK, []string{"2 nodes, 1 rooms", "draining", "4000", "http://node-b:7880", "live", "a:250 b:4000", "nodes view"}},
		{"redis down", http.StatusServiceUnavailable, []string{"cluster store unreachable", "2 nodes"}},
		{"single node", http.StatusNotFound, []string{"runs alone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/cluster" {
					http.NotFound(w, r)
					return
				}
				calls++
				w.WriteHeader(tc.status)
				doc := clusterDoc
				if tc.status == http.StatusServiceUnavailable {
					doc = strings.Replace(doc, `"node":"a",`, `"node":"a","error":"listing nodes: cluster store unreachable",`, 1)
				}
				if tc.status != http.StatusNotFound {
					w.Write([]byte(doc))
				}
			}))
			defer hs.Close()
			src, err := NewHTTPStats(hs.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			c := newClock()
			m := New(Options{Target: hs.URL, Stats: noStats{}, Cluster: src, Now: c.Now})
			t.Cleanup(func() { m.cancel() })
			m.Init()
			m.Update(tea.WindowSizeMsg{Width: 140, Height: 30})
			m.Update(tickMsg{})
			if calls != 0 {
				t.Fatal("/v1/cluster fetched while the nodes view is hidden")
			}
			press(m, "tab")
			cmd := press(m, "tab")
			if m.CurrentView() != ViewNodes {
				t.Fatalf("view %v after two tabs", m.CurrentView())
			}
			runAll(m, cmd)
			if calls != 1 {
				t.Fatalf("%d /v1/cluster fetches, want 1", calls)
			}
			v := m.View()
			for _, w := range tc.want {
				if !strings.Contains(v, w) {
					t.Errorf("nodes view lacks %q:\n%s", w, v)
				}
			}
		})
	}
}

// runAll runs cmd (and batches in it) and feeds what the cluster fetch
// returns back to the model.
func runAll(m *Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			runAll(m, c)
		}
	case clusterMsg:
		m.Update(msg)
	}
}

func TestFetchClusterNotFound(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	src, _ := NewHTTPStats(hs.URL, nil)
	defer src.Close()
	if _, err := src.FetchCluster(t.Context()); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("FetchCluster against a server without /v1/cluster: %v", err)
	}
}
