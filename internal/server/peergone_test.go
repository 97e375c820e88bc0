package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestPeersGoingAwayAreNotDrops: clients that just disconnect (close TCP
// without a close frame, as a crashed tab does) are not counted in
// connections_dropped{reason="write_failed"}: a participant_left written
// to a member whose socket the peer has already closed fails with EPIPE or
// ECONNRESET, and that is the peer leaving, not a write failure of the
// server's. (200 members closing at once counted 72 to 162 drops.)
func TestPeersGoingAwayAreNotDrops(t *testing.T) {
	const n = 200
	ts := newTestServer(t, Config{})
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		ws, _, err := websocket.DefaultDialer.Dial(ts.wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = ws
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws.ReadMessage(); err != nil { // welcome
			t.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"join","id":"j","room":"r","identity":"m%d"}`, i)); err != nil {
			t.Fatal(err)
		}
		for { // skip participant_joined events up to the joined reply
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 15 && string(b[:15]) == `{"type":"joined` {
				break
			}
		}
	}
	waitFor(t, func() bool { st := ts.Stats(); return st.Participants == n })
	// Everyone goes away at once, without a close frame; events queued to
	// them meanwhile are left unread (so some sockets are reset).
	for _, ws := range conns {
		ws.NetConn().Close()
	}
	waitFor(t, func() bool { return ts.Connections() == 0 })
	if d := ts.counters.dropped[dropWrite].Load(); d != 0 {
		t.Fatalf("%d of %d peers that went away counted as dropped (write_failed)", d, n)
	}
	if d := ts.counters.droppedTotal(); d != 0 {
		t.Fatalf("%d of %d peers that went away counted as dropped", d, n)
	}
}
