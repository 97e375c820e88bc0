package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
)

// rawConn is a WebSocket connection that speaks the protocol by hand, to
// send what the Go client never would.
type rawConn struct {
	t    testing.TB
	conn *websocket.Conn
}

func dialRaw(t testing.TB, url string, header http.Header) *rawConn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (HTTP %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rawConn{t: t, conn: conn}
	if m := rc.read(); m.Type != signal.TypeWelcome {
		t.Fatalf("first frame = %+v, want welcome", m)
	}
	return rc
}

func (rc *rawConn) write(op int, b []byte) {
	rc.t.Helper()
	rc.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := rc.conn.WriteMessage(op, b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawConn) read() *signal.Message {
	rc.t.Helper()
	m, err := rc.tryRead()
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	return m
}

func (rc *rawConn) tryRead() (*signal.Message, error) {
	rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := rc.conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	return signal.Decode(b)
}

// closeCode reads until the connection ends and returns the close code.
func (rc *rawConn) closeCode() int {
	rc.t.Helper()
	for {
		_, err := rc.tryRead()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			rc.t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
}

func TestBadInput(t *testing.T) {
	const maxSize = 4096
	secret := []byte("secret")
	tok := func(room, id string) string {
		s, err := auth.Mint(secret, auth.Grant{Room: room, Identity: id}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name   string
		cfg    Config
		send   func(*rawConn)
		code   string // error code expected
		id     string // request id echoed
		close  int    // close code expected; 0: the connection stays usable
		before func(t *testing.T, ts *testServer)
	}{
		{name: "malformed json", send: text(`{"type":"join",`), code: signal.CodeBadMessage},
		{name: "not an object", send: text(`[1,2]`), code: signal.CodeBadMessage},
		{name: "empty frame", send: text(``), code: signal.CodeBadMessage},
		{name: "no type", send: text(`{"id":"7"}`), code: signal.CodeBadMessage, id: "7"},
		{name: "wrong field type keeps id", send: text(`{"type":"join","id":"8","room":5}`), code: signal.CodeBadMessage, id: "8"},
		{name: "unknown type", send: text(`{"type":"dance","id":"9"}`), code: signal.CodeUnknownType, id: "9"},
		{name: "server type from client", send: text(`{"type":"welcome","id":"10"}`), code: signal.CodeUnknownType, id: "10"},
		{name: "join without room", send: text(`{"type":"join","id":"1","identity":"a"}`), code: signal.CodeBadMessage, id: "1"},
		{name: "join name too long", send: text(`{"type":"join","id":"1","identity":"a","room":"` + strings.Repeat("r", 200) + `"}`), code: signal.CodeBadMessage, id: "1"},
		{name: "join name with bidi override", send: text(`{"type":"join","id":"1","identity":"a","room":"evil\u202etxt"}`), code: signal.CodeBadMessage, id: "1"},
		{name: "join name only spaces", send: text(`{"type":"join","id":"1","identity":"   ","room":"r"}`), code: signal.CodeBadMessage, id: "1"},
		{name: "id too long", send: text(`{"type":"ping","id":"` + strings.Repeat("i", 100) + `"}`), code: signal.CodeBadMessage, id: strings.Repeat("i", signal.MaxIDLen)},
		{name: "binary frame", send: func(rc *rawConn) { rc.write(websocket.BinaryMessage, []byte(`{"type":"ping"}`)) }, code: signal.CodeBadMessage},
		{name: "leave before join", send: text(`{"type":"leave","id":"2"}`), code: signal.CodeNotJoined, id: "2"},
		{name: "trickle bad target", send: text(`{"type":"trickle","id":"3","target":"x","candidate":{"candidate":""}}`), code: signal.CodeBadMessage, id: "3"},
		{name: "publish without sdp", send: text(`{"type":"publish","id":"4"}`), code: signal.CodeBadMessage, id: "4"},
		{name: "media without media plane", send: text(`{"type":"unpublish","id":"5"}`), code: signal.CodeUnsupported, id: "5"},
		// Publish offers with too many media sections or no common codec:
		// internal/sfu's TestMediaRequestErrors (they need the media plane).
		{
			name: "message too large", cfg: Config{Limits: Limits{MaxMessageSize: maxSize}},
			send: text(`{"type":"ping","id":"x","sdp":"` + strings.Repeat("a", maxSize) + `"}`),
			code: signal.CodeMessageTooLarge, close: signal.CloseMessageTooBig,
		},
		{
			name: "message too large in fragments", cfg: Config{Limits: Limits{MaxMessageSize: maxSize}},
			send: func(rc *rawConn) {
				w, _ := rc.conn.NextWriter(websocket.TextMessage)
				for range 10 {
					w.Write(make([]byte, 1000))
				}
				w.Close()
			},
			code: signal.CodeMessageTooLarge, close: signal.CloseMessageTooBig,
		},
		{
			name: "repeated malformed frames",
			send: func(rc *rawConn) {
				for range maxBadFrames - 1 {
					rc.write(websocket.TextMessage, []byte("nope"))
					if m := rc.read(); m.Code != signal.CodeBadMessage {
						rc.t.Fatalf("reply = %+v", m)
					}
				}
				rc.write(websocket.TextMessage, []byte("nope"))
			},
			code: signal.CodeBadMessage, close: signal.CloseProtocolError,
		},
		{
			name: "room full", cfg: Config{Limits: Limits{MaxParticipants: 1}},
			before: func(t *testing.T, ts *testServer) {
				c := dial(t, ts.wsURL, nil)
				if _, err := c.Join(ctxT(t), "r", "first", ""); err != nil {
					t.Fatal(err)
				}
			},
			send: text(`{"type":"join","id":"6","room":"r","identity":"second"}`), code: signal.CodeRoomFull, id: "6",
		},
		{
			name: "room limit", cfg: Config{Limits: Limits{MaxRooms: 2}}, // the bystanders' room and r1
			before: func(t *testing.T, ts *testServer) {
				c := dial(t, ts.wsURL, nil)
				if _, err := c.Join(ctxT(t), "r1", "first", ""); err != nil {
					t.Fatal(err)
				}
			},
			send: text(`{"type":"join","id":"6","room":"r2","identity":"second"}`), code: signal.CodeServerFull, id: "6",
		},
		{name: "token missing", cfg: Config{AuthSecret: secret}, send: text(`{"type":"join","id":"t","room":"r","identity":"a"}`), code: signal.CodeUnauthorized, id: "t"},
		{name: "token invalid", cfg: Config{AuthSecret: secret}, send: text(`{"type":"join","id":"t","room":"r","identity":"a","token":"x.y.z"}`), code: signal.CodeUnauthorized, id: "t"},
		{name: "token other room", cfg: Config{AuthSecret: secret}, send: text(`{"type":"join","id":"t","room":"r","identity":"a","token":"` + tok("other", "a") + `"}`), code: signal.CodeForbidden, id: "t"},
		{name: "token other identity", cfg: Config{AuthSecret: secret}, send: text(`{"type":"join","id":"t","room":"r","identity":"a","token":"` + tok("r", "b") + `"}`), code: signal.CodeForbidden, id: "t"},
		{
			name: "join while draining",
			before: func(t *testing.T, ts *testServer) {
				ts.StartDrain(time.Now().Add(time.Minute))
			},
			send: func(rc *rawConn) {
				if m := rc.read(); m.Type != signal.TypeDraining || m.DeadlineMS <= 0 {
					rc.t.Fatalf("want draining notice, got %+v", m)
				}
				rc.write(websocket.TextMessage, []byte(`{"type":"join","id":"d","room":"r","identity":"a"}`))
			},
			code: signal.CodeDraining, id: "d",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.cfg)
			// A bystander in a room must keep being served throughout.
			bystander := dial(t, ts.wsURL, nil)
			if _, err := bystander.Join(ctxT(t), "bystanders", "b", tok("bystanders", "b")); err != nil {
				t.Fatal(err)
			}
			rc := dialRaw(t, ts.wsURL, nil)
			if tc.before != nil {
				tc.before(t, ts)
			}
			tc.send(rc)
			m := rc.read()
			if m.Type != signal.TypeError || m.Code != tc.code || m.ID != tc.id || m.Reason == "" {
				t.Fatalf("reply = %+v, want error %s with id %q and a reason", m, tc.code, tc.id)
			}
			if tc.close != 0 {
				if got := rc.closeCode(); got != tc.close {
					t.Fatalf("close code = %d, want %d", got, tc.close)
				}
			} else {
				rc.write(websocket.TextMessage, []byte(`{"type":"ping","id":"alive","client_time":1}`))
				if m := rc.read(); m.Type != signal.TypePong || m.ID != "alive" || m.ClientTime != 1 {
					t.Fatalf("after the error, ping got %+v", m)
				}
			}
			if _, _, err := bystander.Ping(ctxT(t)); err != nil {
				t.Fatalf("bystander not served: %v", err)
			}
		})
	}
}

func text(s string) func(*rawConn) {
	return func(rc *rawConn) { rc.write(websocket.TextMessage, []byte(s)) }
}

func TestConnectionLimit(t *testing.T) {
	ts := newTestServer(t, Config{Limits: Limits{MaxConns: 2}})
	a := dial(t, ts.wsURL, nil)
	dial(t, ts.wsURL, nil)
	_, err := signal.Dial(context.Background(), ts.wsURL, nil)
	if !errors.Is(err, &signal.Error{Code: signal.CodeServerFull}) {
		t.Fatalf("third dial = %v, want server_full", err)
	}
	// The refused connection is closed with 1013 after the error frame.
	conn, _, err := websocket.DefaultDialer.Dial(ts.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc := &rawConn{t: t, conn: conn}
	if m := rc.read(); m.Code != signal.CodeServerFull {
		t.Fatalf("first frame = %+v", m)
	}
	if code := rc.closeCode(); code != signal.CloseTryAgainLater {
		t.Fatalf("close code = %d, want %d", code, signal.CloseTryAgainLater)
	}
	if _, _, err := a.Ping(ctxT(t)); err != nil {
		t.Fatalf("existing client not served: %v", err)
	}
	// A slot frees when a client leaves.
	a.Close()
	waitFor(t, func() bool { return ts.Connections() == 1 })
	dial(t, ts.wsURL, nil)
}

func TestOrigins(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		origin string
		ok     bool
	}{
		{"no origin header", Config{}, "", true},
		{"same host", Config{}, "http://HOST", true},
		{"foreign", Config{}, "https://evil.example", false},
		{"listed", Config{AllowedOrigins: []string{"https://app.example"}}, "https://app.example", true},
		{"listed other", Config{AllowedOrigins: []string{"https://app.example"}}, "https://evil.example", false},
		{"wildcard", Config{AllowedOrigins: []string{"*"}}, "https://evil.example", true},
		{"dev", Config{AllowAllOrigins: true}, "https://evil.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusals := make(chan error, 1)
			tc.cfg.OnRefused = func(err error) { refusals <- err }
			ts := newTestServer(t, tc.cfg)
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", strings.Replace(tc.origin, "HOST", strings.TrimPrefix(ts.http.URL, "http://"), 1))
			}
			c, err := signal.Dial(context.Background(), ts.wsURL, &signal.DialOptions{Header: h})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			// The browser is told why; the operator (OnRefused: serve
			// logs it with the flag to change) which origin it was.
			var de *signal.DialError
			if !errors.As(err, &de) || de.Status != http.StatusForbidden || !strings.Contains(de.Body, "is not allowed") || strings.Contains(de.Body, "--") {
				t.Fatalf("dial = %v, want 403 saying the origin is not allowed, naming no flag", err)
			}
			var oe *OriginError
			if err := <-refusals; !errors.As(err, &oe) || oe.Origin != tc.origin {
				t.Fatalf("OnRefused got %v, want an OriginError for %s", err, tc.origin)
			}
		})
	}
	if _, err := New(Config{AllowedOrigins: []string{"example.com"}}); err == nil {
		t.Fatal("New accepted an origin without a scheme")
	}
}

func TestAuthJoin(t *testing.T) {
	secret := []byte("secret")
	ts := newTestServer(t, Config{AuthSecret: secret})
	tok, _ := auth.Mint(secret, auth.Grant{Room: "r", Identity: "alice", Subscribe: true}, time.Hour, time.Now())
	c := dial(t, ts.wsURL, nil)
	j, err := c.Join(ctxT(t), "r", "alice", tok)
	if err != nil {
		t.Fatal(err)
	}
	if j.Identity != "alice" {
		t.Fatalf("joined = %+v", j)
	}
}

// TestSlowAndDeadClients: a client that stops reading is dropped (queue
// overflow, or write timeout), one that stops answering pings is dropped as
// dead; each is counted and the others keep being served.
func TestSlowAndDeadClients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		flood  bool
		reason dropReason
	}{
		{"queue overflow", Config{Limits: Limits{SendQueue: 8}}, true, dropSlow},
		{"write timeout", Config{Limits: Limits{SendQueue: 1 << 20}, WriteTimeout: 200 * time.Millisecond}, true, dropWrite},
		{"no pong", Config{PingInterval: 50 * time.Millisecond}, false, dropDead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.cfg)
			other := dial(t, ts.wsURL, nil)
			conn, _, err := websocket.DefaultDialer.Dial(ts.wsURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tc.flood {
				// Ask for pongs and never read them: the socket buffers
				// fill, then the queue.
				ping := []byte(`{"type":"ping","id":"` + strings.Repeat("p", 60) + `"}`)
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					conn.SetWriteDeadline(time.Now().Add(time.Second))
					if err := conn.WriteMessage(websocket.TextMessage, ping); err != nil {
						break
					}
					if ts.counters.dropped[tc.reason].Load() > 0 {
						break
					}
				}
			}
			waitFor(t, func() bool { return ts.counters.dropped[tc.reason].Load() == 1 })
			waitFor(t, func() bool { return ts.Connections() == 1 })
			if st := ts.Stats(); st.ConnectionsDropped != 1 {
				t.Fatalf("connections_dropped = %d", st.ConnectionsDropped)
			}
			if _, _, err := other.Ping(ctxT(t)); err != nil {
				t.Fatalf("other client not served: %v", err)
			}
		})
	}
}
