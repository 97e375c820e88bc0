package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/signal"
)

// TestJoinLargeRoom: a joined reply listing every participant of a room
// of 420 with 128-byte identities (--room-list-limit raised over the
// room's size) is larger than the 64 KiB a server accepts from a client,
// and a client with default options must still read it (it stopped at
// join 390 when clients took at most 64 KiB).
func TestJoinLargeRoom(t *testing.T) {
	ts := newTestServer(t, Config{Rooms: RoomsConfig{ListLimit: 1000}})
	ctx := ctxT(t)
	const n = 420
	for i := range n {
		c := dial(t, ts.wsURL, nil)
		id := fmt.Sprintf("%03d-%s", i, strings.Repeat("x", signal.MaxNameLen-4))
		j, err := c.Join(ctx, "big", id, "")
		if err != nil {
			t.Fatalf("join %d: %v", i+1, err)
		}
		if len(j.Participants) != i {
			t.Fatalf("join %d: %d participants listed, want %d", i+1, len(j.Participants), i)
		}
	}
}

// TestWHIPWHEPLimits: WHIP and WHEP sessions count towards --max-conns,
// --max-rooms and --max-participants with /ws connections and
// participants, so a server cannot be filled past its limits over HTTP
// (with --dev, by anyone who can reach it).
func TestWHIPWHEPLimits(t *testing.T) {
	ts := newMediaServer(t, Config{Limits: Limits{MaxConns: 4, MaxRooms: 2, MaxParticipants: 2}})
	offer := recvOffer(t)
	post := func(room string, status int, code string) string {
		t.Helper()
		resp := doCase(t, ts.http.URL, httpCase{method: "POST", path: "/whep/" + room, contentType: "application/sdp", body: offer, status: status, code: code}, "")
		if status == 503 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		return resp.Header.Get("Location")
	}
	first := post("a", 201, "")
	post("a", 201, "")
	post("a", 503, signal.CodeRoomFull) // two participants in a
	post("b", 201, "")
	post("c", 503, signal.CodeServerFull) // a and b: two rooms

	// /ws sees the same rooms and participants: 3 sessions of 4 allowed.
	c := dial(t, ts.wsURL, nil)
	ctx := ctxT(t)
	if _, err := c.Join(ctx, "a", "x", ""); !errors.Is(err, &signal.Error{Code: signal.CodeRoomFull}) {
		t.Errorf("joining a full room over /ws: %v, want room_full", err)
	}
	if _, err := c.Join(ctx, "d", "x", ""); !errors.Is(err, &signal.Error{Code: signal.CodeServerFull}) {
		t.Errorf("joining a third room over /ws: %v, want server_full", err)
	}
	if _, err := signal.Dial(ctx, ts.wsURL, nil); !errors.Is(err, &signal.Error{Code: signal.CodeServerFull}) {
		t.Errorf("a fifth connection: %v, want server_full", err)
	}
	post("b", 503, signal.CodeServerFull) // 1 /ws + 3 sessions

	// Ending a session frees its place.
	doCase(t, ts.http.URL, httpCase{method: "DELETE", path: first, status: 200}, "")
	deadline := time.Now().Add(5 * time.Second)
	for ts.outsideSessions() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	post("b", 201, "")
}

// TestRefusedConnectionsAreNotConnections: a connection refused at the
// limit is closed with a handshake that takes a while; meanwhile it must
// not count as a connection (nor hold another client's place).
func TestRefusedConnectionsAreNotConnections(t *testing.T) {
	ts := newTestServer(t, Config{Limits: Limits{MaxConns: 1}})
	dial(t, ts.wsURL, nil)
	for range 5 {
		if _, err := signal.Dial(context.Background(), ts.wsURL, nil); !errors.Is(err, &signal.Error{Code: signal.CodeServerFull}) {
			t.Fatalf("connection over the limit: %v, want server_full", err)
		}
		if n := ts.Connections(); n != 1 {
			t.Fatalf("%d connections with a limit of 1", n)
		}
	}
}

// TestDrainWaitsForWHIPWHEP: WHIP and WHEP sessions get the drain time to
// end, as /ws clients do; a server with only those must not exit at once.
func TestDrainWaitsForWHIPWHEP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{DrainTimeout: 10 * time.Second}
	cfg.Media.Enabled = true
	_, addr, done := serving(t, cfg, ctx, nil)
	base := "http://" + addr
	resp := doCase(t, base, httpCase{method: "POST", path: "/whep/r", contentType: "application/sdp", body: recvOffer(t), status: 201}, "")
	loc := resp.Header.Get("Location")
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) with a WHEP session open", err)
	case <-time.After(300 * time.Millisecond):
	}
	doCase(t, base, httpCase{method: "DELETE", path: loc, status: 200}, "")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the WHEP session ended")
	}
}

// TestWHEPRoomNameNeedsEscaping: a room name with a slash (sent as %2F)
// gets a Location the client can DELETE.
func TestWHEPRoomNameNeedsEscaping(t *testing.T) {
	ts := newMediaServer(t, Config{})
	resp := doCase(t, ts.http.URL, httpCase{method: "POST", path: "/whep/a%2Fb", contentType: "application/sdp", body: recvOffer(t), status: 201}, "")
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/whep/a%2Fb/") {
		t.Fatalf("Location %q, want it under /whep/a%%2Fb/", loc)
	}
	doCase(t, ts.http.URL, httpCase{method: "DELETE", path: loc, status: 200}, "")
}
