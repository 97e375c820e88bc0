// Package servertest runs livectl's server (signaling and SFU, loopback UDP)
// inside a test process, the way `livectl serve` runs it, for the tests of
// the clients (probe, publish, bench) and the browser tests.
package servertest

import (
	"net/http/httptest"
	"testing"

	"github.com/livectl/livectl/internal/server"
)

// Server is a running in-process server.
type Server struct {
	*server.Server
	// HTTP is the base URL (http://127.0.0.1:PORT) for WHIP, WHEP and the demo page.
	HTTP string
	// WS is the signaling URL (ws://127.0.0.1:PORT/ws).
	WS string
}

// Start runs a server with media enabled on free loopback ports and stops
// it when the test ends. cfg may set limits, auth and so on; media is
// always on.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	cfg.Media.Enabled = true
	s, err := server.New(cfg)
	if err != nil {
		t.Fatalf("starting the in-process server: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return &Server{Server: s, HTTP: hs.URL, WS: "ws" + hs.URL[len("http"):] + "/ws"}
}
