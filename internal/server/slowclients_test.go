package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSlowHTTPClientsAreCut: a keep-alive connection that sends no further
// request, and a WHIP body sent a byte at a time, each held a connection
// (and a file descriptor) for ever; a few hundred of them shut every client
// out. Both are now cut: the first after idleTimeout, the second after
// bodyReadTimeout with a 400 that says why.
func TestSlowHTTPClientsAreCut(t *testing.T) {
	oldIdle, oldBody := idleTimeout, bodyReadTimeout
	t.Cleanup(func() { idleTimeout, bodyReadTimeout = oldIdle, oldBody }) // after the server's own cleanup
	idleTimeout, bodyReadTimeout = 300*time.Millisecond, 300*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr, _ := serving(t, Config{Media: MediaConfig{Enabled: true}}, ctx, nil)

	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
			t.Fatalf("first response: %q %v", line, err)
		}
		start := time.Now()
		_, err = io.Copy(io.Discard, br) // the rest of the response, then EOF when cut
		if err != nil || time.Since(start) > 3*time.Second {
			t.Errorf("idle connection not closed by the server: %v after %s", err, time.Since(start))
		}
	})

	t.Run("slow WHIP body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "POST /whip/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/sdp\r\nContent-Length: 1000\r\n\r\nv=0\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := io.ReadAll(c)
		if !strings.Contains(string(resp), "400") || !strings.Contains(string(resp), "not sent within") {
			t.Errorf("slow body: %q (err %v), want a 400 saying the body was not sent in time", resp, err)
		}
	})
}
