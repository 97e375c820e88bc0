package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

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
