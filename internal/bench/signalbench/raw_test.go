package signalbench

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsServer is a plain WebSocket server on loopback, not livectl: serve
// handles each connection after before has seen its request.
func wsServer(t *testing.T, before func(*http.Request), serve func(*websocket.Conn)) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			before(r)
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}))
	t.Cleanup(hs.Close)
	return hs
}

// echoServer is a plain WebSocket echo server: not livectl, nothing shared.
func echoServer(t *testing.T) string {
	hs := wsServer(t, nil, func(c *websocket.Conn) {
		for {
			mt, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			// A JSON ping gets a JSON pong; anything else is echoed.
			if strings.Contains(string(b), `"ping"`) {
				b = []byte(`{"type":"pong","data":{"ok":true,"n":3}}`)
			}
			if err := c.WriteMessage(mt, b); err != nil {
				return
			}
		}
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/"
}

// sinkServer accepts WebSocket connections and reads until each client
// goes; before runs first for every request.
func sinkServer(t *testing.T, before func(*http.Request)) *httptest.Server {
	return wsServer(t, before, func(c *websocket.Conn) {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
}

func TestRawModeAgainstEchoServer(t *testing.T) {
	url := echoServer(t)
	tests := []struct {
		name, send, expect string
		wantRTT            bool
		wantTimeouts       bool // unanswered pings count as timeouts; otherwise no error at all
	}{
		{"text echo", "hello", "hello", true, false},
		{"json field", `{"type":"ping"}`, "json:type=pong", true, false},
		{"nested json field", `{"type":"ping"}`, "json:data.n=3", true, false},
		{"expectation never met", "hello", "goodbye", false, true},
		// Without --send nothing is sent, so nothing can time out.
		{"hold only", "", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMatcher(tt.expect)
			if err != nil {
				t.Fatal(err)
			}
			rep := runSignal(t, Options{URL: url, Conns: 30, Rate: 1000, Duration: 300 * time.Millisecond,
				PingInterval: 50 * time.Millisecond, RequestTimeout: 200 * time.Millisecond,
				Protocol: ProtocolRaw, Send: tt.send, Expect: m})
			if rep.Connections.Established != 30 || rep.Latency[LatConnect].Count != 30 {
				t.Fatalf("connections %+v", rep.Connections)
			}
			if rep.Latency[LatJoin].Count != 0 {
				t.Errorf("raw mode has no join, got %d", rep.Latency[LatJoin].Count)
			}
			got := rep.Latency[LatRTT].Count
			if tt.wantRTT && got < 30*3 {
				t.Errorf("rtt count %d, want ≥90", got)
			}
			if !tt.wantRTT && got != 0 {
				t.Errorf("rtt count %d, want 0", got)
			}
			if tt.wantTimeouts && rep.Errors[KindTimeout] == 0 {
				t.Errorf("unanswered pings should time out, errors %v", rep.Errors)
			}
			if !tt.wantTimeouts && rep.ErrorCount() != 0 {
				t.Errorf("errors %v", rep.Errors)
			}
		})
	}
}

func TestMatcher(t *testing.T) {
	tests := []struct {
		expect, frame string
		want          bool
	}{
		{"", "anything", true},
		{"pong", `{"type":"pong"}`, true},
		{"pong", `{"type":"ping"}`, false},
		{"json:type=pong", `{"type":"pong"}`, true},
		{"json:type=pong", `{"type":"pongo"}`, false},
		{"json:a.b=1", `{"a":{"b":1}}`, true},
		{"json:a.b=true", `{"a":{"b":true}}`, true},
		{"json:a.b=x", `{"a":"b"}`, false},
		{"json:a=null", `{"a":null}`, true},
		{"json:type=pong", `not json`, false},
	}
	for _, tt := range tests {
		t.Run(tt.expect+"/"+tt.frame, func(t *testing.T) {
			m, err := ParseMatcher(tt.expect)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Match([]byte(tt.frame)); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			if m.String() != tt.expect {
				t.Errorf("String = %q", m.String())
			}
		})
	}
	if _, err := ParseMatcher("json:=x"); err == nil {
		t.Error("json:=x accepted")
	}
}

func TestSourceIPsSpreadDials(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	hs := sinkServer(t, func(r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		seen[host]++
		mu.Unlock()
	})
	ips, err := ParseSourceIPs("127.0.0.2-127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	rep := runSignal(t, Options{URL: "ws" + strings.TrimPrefix(hs.URL, "http"), Conns: 30, Rate: 1000,
		Protocol: ProtocolRaw, SourceIPs: ips})
	if rep.Connections.Established != 30 || rep.Settings.SourceIPs != 3 {
		t.Fatalf("connections %+v settings %+v", rep.Connections, rep.Settings)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if seen[ip] != 10 {
			t.Errorf("server saw %v, want 10 connections from each of 127.0.0.2-4", seen)
			break
		}
	}
}
