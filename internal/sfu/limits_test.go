package sfu

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
)

// TestWHIPWHEPLimits: WHIP and WHEP sessions count towards --max-conns,
// --max-rooms and --max-participants with /ws connections and
// participants, so a server cannot be filled past its limits over HTTP
// (with --dev, by anyone who can reach it).
func TestWHIPWHEPLimits(t *testing.T) {
	ts := newMediaServer(t, server.Config{Limits: server.Limits{MaxConns: 4, MaxRooms: 2, MaxParticipants: 2}}, Config{})
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
	for ts.OutsideSessions() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	post("b", 201, "")
}

// TestPendingMediaBudget: with --max-pending-media places taken by
// sessions that have not connected, the next offer is refused as busy
// (503 with Retry-After) before a peer connection is built; a session that
// ends gives its place back.
func TestPendingMediaBudget(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{MaxPending: 1})
	post := func(status int, code string) *http.Response {
		t.Helper()
		resp := doCase(t, ts.http.URL, httpCase{method: "POST", path: "/whep/p", contentType: "application/sdp", body: recvOffer(t), status: status, code: code}, "")
		if status == 503 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		return resp
	}
	first := post(201, "").Header.Get("Location") // never answered: stays pending
	post(503, signal.CodeServerFull)
	doCase(t, ts.http.URL, httpCase{method: "DELETE", path: first, status: 200}, "")
	deadline := time.Now().Add(5 * time.Second)
	for ts.sfu.relay.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	post(201, "")
}

// TestDrainWaitsForWHIPWHEP: WHIP and WHEP sessions get the drain time to
// end, as /ws clients do; a server with only those must not exit at once.
func TestDrainWaitsForWHIPWHEP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, addr, done := serving(t, server.Config{DrainTimeout: 10 * time.Second}, ctx, nil)
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
	ts := newMediaServer(t, server.Config{}, Config{})
	resp := doCase(t, ts.http.URL, httpCase{method: "POST", path: "/whep/a%2Fb", contentType: "application/sdp", body: recvOffer(t), status: 201}, "")
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/whep/a%2Fb/") {
		t.Fatalf("Location %q, want it under /whep/a%%2Fb/", loc)
	}
	doCase(t, ts.http.URL, httpCase{method: "DELETE", path: loc, status: 200}, "")
}
