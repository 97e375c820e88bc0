package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/cluster/redistest"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
)

var _ server.Cluster = (*Node)(nil)

// member is a /ws client of a node and what it received.
type member struct {
	c *signal.Client

	mu         sync.Mutex
	chat       []signal.ChatMessage
	pubs, view int
	updates    int
}

func (m *member) onEvent(e *signal.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e.Type {
	case signal.TypeChat:
		m.chat = append(m.chat, e.Messages...)
	case signal.TypeRoomUpdate:
		m.pubs, m.view = e.Publishers, e.Viewers
		m.updates++
	}
}

func (m *member) seen() ([]signal.ChatMessage, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]signal.ChatMessage(nil), m.chat...), m.view
}

// clusterServer is a signaling server in a cluster, in process.
type clusterServer struct {
	node *Node
	srv  *server.Server
	ws   string
}

func startServer(t *testing.T, rs *redistest.Server, id string) *clusterServer {
	t.Helper()
	n, _ := startNode(t, rs, id, true)
	srv, err := server.New(server.Config{Cluster: n, Rooms: server.RoomsConfig{ChatRate: math.Inf(1), EventThreshold: 2, UpdateInterval: 50 * time.Millisecond, ChatBatch: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	n.Attach(srv)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &clusterServer{node: n, srv: srv, ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
}

func (cs *clusterServer) join(t *testing.T, room, who string) *member {
	t.Helper()
	m := &member{}
	c, err := signal.Dial(context.Background(), cs.ws, &signal.DialOptions{OnEvent: m.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m.c = c
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Join(ctx, room, who, ""); err != nil {
		t.Fatalf("%s joins on %s: %v", who, cs.node.ID(), err)
	}
	return m
}

// Chat sent on C reaches members on A and B once each, in seq order;
// counts converge on every node; the sender's node pays one Redis command
// per message whatever the number of members.
func TestSignalingAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	a, b, c := startServer(t, rs, "a"), startServer(t, rs, "b"), startServer(t, rs, "c")
	onA := a.join(t, "r", "alice")
	onB := b.join(t, "r", "bob")
	var onC []*member
	for i := range 10 {
		onC = append(onC, c.join(t, "r", fmt.Sprint("c", i)))
	}
	for _, cs := range []*clusterServer{a, b, c} {
		subscribed(t, cs.node, "r")
	}
	// 12 viewers: 1 on A, 1 on B, 10 on C.
	for _, m := range []*member{onA, onB, onC[0]} {
		eventually(t, "counts converge", func() bool { _, v := m.seen(); return v == 12 })
	}

	const msgs = 20
	before := c.node.Stats().Commands
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range msgs {
		seq, err := onC[0].c.Chat(ctx, fmt.Sprint("m", i), 0)
		if err != nil {
			t.Fatalf("chat %d: %v", i, err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("chat %d got seq %d", i, seq)
		}
	}
	used := c.node.Stats().Commands - before
	// One script per message plus the heartbeats and counts meanwhile;
	// per member (11 on C alone) it would be hundreds.
	if used > msgs+15 {
		t.Errorf("node c sent %d Redis commands for %d chat messages", used, msgs)
	}
	t.Logf("node c: %d Redis commands for %d chat messages to 12 members on 3 nodes", used, msgs)
	for _, m := range []*member{onA, onB, onC[5]} {
		eventually(t, "chat delivered", func() bool { got, _ := m.seen(); return len(got) >= msgs })
		got, _ := m.seen()
		if len(got) != msgs {
			t.Fatalf("%d messages delivered, want %d once each", len(got), msgs)
		}
		for i, cm := range got {
			if cm.Seq != uint64(i+1) || cm.Text != fmt.Sprint("m", i) || cm.From != "c0" {
				t.Fatalf("message %d: %+v", i, cm)
			}
		}
	}

	// Leaves on C reach the counts everywhere.
	for _, m := range onC[5:] {
		m.c.Close()
	}
	eventually(t, "counts after leaves", func() bool { _, v := onA.seen(); return v == 7 })

	// Redis down: /readyz says why, chat is refused with a reason, local
	// rooms keep working; back: ready and chat again.
	rs.Stop()
	eventually(t, "a not ready", func() bool { return a.node.Ready() != nil })
	rec := httptest.NewRecorder()
	a.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "cluster unavailable") {
		t.Fatalf("/readyz with Redis down: %d %q", rec.Code, rec.Body.String())
	}
	_, err := onA.c.Chat(ctx, "while down", 0)
	var se *signal.Error
	if !errorsAs(err, &se) || se.Code != signal.CodeInternal || !strings.Contains(se.Reason, "cluster") {
		t.Fatalf("chat with Redis down: %v", err)
	}
	late := a.join(t, "r", "late") // a local join still works
	_ = late
	rs.Restart()
	eventually(t, "a ready again", func() bool { return a.node.Ready() == nil })
	eventually(t, "chat flows again", func() bool {
		_, err := onB.c.Chat(ctx, "back", 0)
		if err != nil {
			return false
		}
		got, _ := onA.seen()
		return got[len(got)-1].Text == "back"
	})
}

func errorsAs(err error, target **signal.Error) bool { return errors.As(err, target) }
