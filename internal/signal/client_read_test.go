package signal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// TestClientFramesSurviveBufferReuse: frames are read into pooled
// buffers. A reply handed to its caller undecoded, the frames WantEvent
// is shown and the events OnEvent gets must each be what the server sent,
// whatever the read loop reads after them (a stream of chat frames, one
// larger than the pool keeps, one of a type the client does not know).
func TestClientFramesSurviveBufferReuse(t *testing.T) {
	big := strings.Repeat("x", maxPooledFrame+1)
	var sent []string // the events after the reply, in order
	for i := range 40 {
		m := &Message{Type: TypeChat, Room: "r", Messages: []ChatMessage{{Seq: uint64(i + 1), From: "a", Text: "t" + strconv.Itoa(i), ServerTime: 1}}}
		switch i {
		case 10:
			m.Messages[0].Text = big
		case 20:
			m = &Message{Type: "future_event", Room: "r" + strconv.Itoa(i)}
		case 30:
			m = &Message{Type: TypeParticipantJoined, Participant: &Participant{Identity: "p"}}
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, string(b))
	}
	up := websocket.Upgrader{Subprotocols: []string{Subprotocol}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		welcome, _ := Encode(&Message{Type: TypeWelcome, Protocol: Version, SessionID: "s"})
		ws.WriteMessage(websocket.TextMessage, welcome)
		var join Message
		if err := ws.ReadJSON(&join); err != nil {
			return
		}
		joined, _ := Encode(&Message{Type: TypeJoined, ID: join.ID, Room: join.Room, Identity: join.Identity,
			Messages: []ChatMessage{{Seq: 1, From: "h", Text: "history", ServerTime: 2}}})
		ws.WriteMessage(websocket.TextMessage, joined)
		for _, f := range sent {
			ws.WriteMessage(websocket.TextMessage, []byte(f))
		}
		ws.ReadMessage() // until the client closes
	}))
	defer hs.Close()

	var mu sync.Mutex
	var seen []string // frames WantEvent kept, copied during the call, or decoded events re-encoded
	done := make(chan struct{})
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, s)
		if len(seen) == len(sent) {
			close(done)
		}
	}
	c, err := Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), &DialOptions{
		ReadBufferSize: 512,
		WantEvent: func(typ string, frame []byte) bool {
			if typ == TypeChat {
				record(string(frame))
				return false
			}
			return true
		},
		OnEvent: func(m *Message) {
			b, _ := Encode(m)
			record(string(b))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Join(context.Background(), "room", "me", "")
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if m.Type != TypeJoined || m.Room != "room" || m.Identity != "me" || len(m.Messages) != 1 || m.Messages[0].Text != "history" {
		t.Errorf("joined reply %+v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range sent {
		if seen[i] != sent[i] {
			t.Errorf("frame %d: got %.80q, sent %.80q", i, seen[i], sent[i])
		}
	}
}

// TestEventTypeOfServerEventsAllocatesNothing: a load generator's
// sessions classify every frame they receive.
func TestEventTypeOfServerEventsAllocatesNothing(t *testing.T) {
	frame := []byte(`{"type":"chat","room":"r","messages":[]}`)
	if n := testing.AllocsPerRun(100, func() {
		if typ, ok := eventType(frame); !ok || typ != TypeChat {
			t.Fatalf("eventType = %q, %v", typ, ok)
		}
	}); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
	if typ, _ := eventType([]byte(`{"type":"future_event"}`)); typ != "future_event" {
		t.Errorf("unknown type read as %q", typ)
	}
}
