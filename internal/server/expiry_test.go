package server

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
)

// TestExpiredTokenMedia: a session keeps what its token admitted it to,
// but publish and subscribe re-check the token's expiry (with auth.Leeway).
// A session joined with a 1 s token could still subscribe 36 s later
// (issue 15).
func TestExpiredTokenMedia(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ts := newMediaServer(t, Config{AuthSecret: secret})
	// Minted so that it is still valid, within the leeway, for a second.
	tok, err := auth.Mint(secret, auth.Grant{Room: "r", Identity: "a", Publish: true, Subscribe: true},
		auth.Leeway, time.Now().Add(-2*auth.Leeway+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, ts.wsURL, nil)
	rc.write(websocket.TextMessage, []byte(`{"type":"join","id":"j","room":"r","identity":"a","token":"`+tok+`"}`))
	if m := rc.read(); m.Type != signal.TypeJoined {
		t.Fatalf("join answered with %+v", m)
	}
	rc.write(websocket.TextMessage, []byte(`{"type":"subscribe","id":"s1"}`))
	if m := rc.read(); m.Type == signal.TypeError {
		t.Fatalf("subscribe before expiry answered with %+v", m)
	}
	time.Sleep(1500 * time.Millisecond)
	for _, req := range []string{
		`{"type":"subscribe","id":"s2"}`,
		`{"type":"publish","id":"p","sdp":` + jsonString(sendOffer(t)) + `}`,
	} {
		rc.write(websocket.TextMessage, []byte(req))
		m := rc.read()
		for m.Type != signal.TypeError && m.ID == "" { // server events (the subscription's offer)
			m = rc.read()
		}
		if m.Type != signal.TypeError || m.Code != signal.CodeUnauthorized {
			t.Fatalf("%s after expiry answered with %+v, want unauthorized", req, m)
		}
	}
	// Still connected: ping works.
	rc.write(websocket.TextMessage, []byte(`{"type":"ping","id":"alive"}`))
	for m := rc.read(); m.ID != "alive"; m = rc.read() {
	}
}
