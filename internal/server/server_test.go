package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/stats"
	"github.com/livectl/livectl/internal/testkit"
)

func TestMain(m *testing.M) {
	if holdSessionsChild() || nofileServerChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

// testServer is a Server behind a real loopback HTTP server.
type testServer struct {
	*Server
	http  *httptest.Server
	wsURL string
}

// The helpers the tests of this package share with internal/sfu's.
var (
	dial    = testkit.Dial
	ctxT    = testkit.Ctx
	next    = testkit.Next[*signal.Message]
	waitFor = testkit.WaitFor
)

func newTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	ts := &testServer{Server: s, http: hs, wsURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return ts
}

func TestRoundTrip(t *testing.T) {
	ts := newTestServer(t, Config{})
	events := make(chan *signal.Message, 16)
	a := dial(t, ts.wsURL, &signal.DialOptions{OnEvent: func(m *signal.Message) { events <- m }})
	if w := a.Welcome(); w.Protocol != signal.Version || w.SessionID == "" || w.ServerTime == 0 {
		t.Fatalf("welcome = %+v", w)
	}
	ctx := ctxT(t)

	rtt, st, err := a.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rtt <= 0 || time.Since(st) > time.Minute || time.Until(st) > time.Minute {
		t.Fatalf("ping rtt %s server time %s", rtt, st)
	}

	j, err := a.Join(ctx, "r1", "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if j.Type != signal.TypeJoined || j.Room != "r1" || j.Identity != "alice" || j.SessionID != a.SessionID() || len(j.Participants) != 0 {
		t.Fatalf("joined = %+v", j)
	}

	b := dial(t, ts.wsURL, nil)
	jb, err := b.Join(ctx, "r1", "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(jb.Participants) != 1 || jb.Participants[0] != (signal.Participant{Identity: "alice", SessionID: a.SessionID()}) {
		t.Fatalf("bob's joined participants = %+v", jb.Participants)
	}
	ev := next(t, events)
	if ev.Type != signal.TypeParticipantJoined || ev.Room != "r1" || *ev.Participant != (signal.Participant{Identity: "bob", SessionID: b.SessionID()}) {
		t.Fatalf("event = %+v", ev)
	}

	st1 := ts.Stats()
	if st1.Connections != 2 || st1.RoomCount != 1 || st1.Participants != 2 || len(st1.Rooms) != 1 || st1.Rooms[0] != (stats.Room{Name: "r1", Participants: 2, Viewers: 2}) {
		t.Fatalf("stats = %+v", st1)
	}

	if _, err := b.Join(ctx, "r2", "bob", ""); !errors.Is(err, &signal.Error{Code: signal.CodeAlreadyJoined}) {
		t.Fatalf("second join = %v, want already_joined", err)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.Type != signal.TypeParticipantLeft || ev.Participant.SessionID != b.SessionID() || ev.Participant.Identity != "bob" {
		t.Fatalf("event = %+v", ev)
	}
	if err := b.Leave(ctx); !errors.Is(err, &signal.Error{Code: signal.CodeNotJoined}) {
		t.Fatalf("leave when not joined = %v", err)
	}
	// Without a media plane, media requests are unsupported.
	if _, err := b.Call(ctx, &signal.Message{Type: signal.TypeSubscribe}); !errors.Is(err, &signal.Error{Code: signal.CodeUnsupported}) {
		t.Fatalf("subscribe = %v, want unsupported", err)
	}
	// A disconnect is a leave for the others.
	if _, err := b.Join(ctx, "r1", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.Type != signal.TypeParticipantJoined {
		t.Fatalf("event = %+v", ev)
	}
	b.Close()
	if ev := next(t, events); ev.Type != signal.TypeParticipantLeft || ev.Participant.SessionID != b.SessionID() {
		t.Fatalf("event = %+v", ev)
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { s := ts.Stats(); return s.RoomCount == 0 && s.Connections == 1 })
}

func TestHTTPRoutes(t *testing.T) {
	ts := newTestServer(t, Config{Version: "test"})
	admin := httptest.NewServer(ts.AdminHandler())
	defer admin.Close()
	for _, tc := range []struct {
		name, base, path string
		status           int
		contains         string
	}{
		{"healthz", ts.http.URL, "/healthz", 200, "ok"},
		{"readyz", ts.http.URL, "/readyz", 200, "ready"},
		{"stats", ts.http.URL, "/v1/stats", 200, `"gc_pause_ns_p99"`},
		{"metrics public", ts.http.URL, "/metrics", 200, "livectl_connections "},
		{"pprof not public", ts.http.URL, "/debug/pprof/", 404, ""},
		{"pprof goroutine not public", ts.http.URL, "/debug/pprof/goroutine", 404, ""},
		{"admin pprof", admin.URL, "/debug/pprof/", 200, "goroutine"},
		{"admin goroutine", admin.URL, "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{"admin metrics", admin.URL, "/metrics", 200, "livectl_connections_dropped_total"},
		{"admin stats", admin.URL, "/v1/stats", 200, `"gc_pause_ns_p99"`},
		{"plain GET on /ws says what it is", ts.http.URL, "/ws", 400, "WebSocket signaling endpoint"},
		{"admin no ws", admin.URL, "/ws", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(tc.base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.contains) {
				t.Fatalf("GET %s = %d %q", tc.path, resp.StatusCode, truncate(string(body), 200))
			}
		})
	}
	resp, err := http.Get(ts.http.URL + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"uptime_s", "connections", "room_count", "participants", "tracks_published", "tracks_subscribed",
		"bytes_in", "bytes_out", "packets_in", "packets_out", "packets_lost", "nacks", "plis", "goroutines", "heap_bytes",
		"gc_pause_ns_p99", "rooms"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("/v1/stats lacks %q", k)
		}
	}
	if raw["version"] != "test" || raw["state"] != "serving" {
		t.Errorf("version/state = %v/%v", raw["version"], raw["state"])
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestCallAfterClose: calls on a client closed by its owner fail with
// signal.ErrClosed, whatever the server answered to the close.
func TestCallAfterClose(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := dial(t, ts.wsURL, nil)
	c.Close()
	if _, err := c.Join(ctxT(t), "r", "a", ""); !errors.Is(err, signal.ErrClosed) {
		t.Fatalf("join after Close: %v, want signal.ErrClosed", err)
	}
	if !errors.Is(c.Err(), signal.ErrClosed) {
		t.Fatalf("Err after Close: %v, want signal.ErrClosed", c.Err())
	}
}
