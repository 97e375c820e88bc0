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
// request held a connection (and a file descriptor) for ever; a few
// hundred of them shut every client out. It is now cut after idleTimeout.
// (A slow WHIP body is the SFU's: internal/sfu TestSlowWHIPBodyIsCut.)
func TestSlowHTTPClientsAreCut(t *testing.T) {
	oldIdle := idleTimeout
	t.Cleanup(func() { idleTimeout = oldIdle }) // after the server's own cleanup
	idleTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr, _ := serving(t, Config{}, ctx, nil)

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

}
