package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestTextFrameReadsAsWebSocket writes textFrame's bytes straight to a
// hijacked connection and reads them back with a WebSocket client, at the
// lengths where the header's form changes.
func TestTextFrameReadsAsWebSocket(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 200_000}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for _, n := range sizes {
			payload := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
			if _, err := c.NetConn().Write(textFrame(payload).data); err != nil {
				return
			}
		}
		c.ReadMessage() // until the client closes
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadLimit(1 << 20)
	for _, n := range sizes {
		typ, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading the %d-byte frame: %v", n, err)
		}
		want := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		if typ != websocket.TextMessage || !bytes.Equal(got, want) {
			t.Fatalf("%d-byte frame: got type %d, %d bytes; want a text message of %d bytes", n, typ, len(got), n)
		}
	}
}
