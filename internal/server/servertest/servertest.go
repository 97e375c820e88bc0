// Package servertest runs livectl's server (signaling and SFU, loopback UDP)
// inside a test process, the way `livectl serve` runs it, for the tests of
// the clients (probe, publish, bench) and the browser tests.
package servertest

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"

	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/sfu"
	"github.com/livectl/livectl/internal/tlsconf"
)

// Server is a running in-process server.
type Server struct {
	*server.Server
	// SFU is its media plane.
	SFU *sfu.SFU
	// HTTP is the base URL (http://127.0.0.1:PORT, https:// with StartTLS)
	// for WHIP, WHEP and the demo page.
	HTTP string
	// WS is the signaling URL (ws://127.0.0.1:PORT/ws, or wss://).
	WS string
}

// Start runs a server with the SFU as its media plane (ICE on a free
// loopback-reachable UDP port) and stops it when the test ends. cfg may set
// limits, auth and so on; its MediaPlane is replaced.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	return start(t, cfg, nil)
}

// StartTLS is Start with HTTPS and WSS on the certificate in certFile and
// keyFile, served the way serve --tls-cert serves it; HTTP and WS are then
// https:// and wss:// URLs.
func StartTLS(t testing.TB, cfg server.Config, certFile, keyFile string) *Server {
	t.Helper()
	r, err := tlsconf.NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatalf("loading the test certificate: %v", err)
	}
	return start(t, cfg, tlsconf.ServerConfig(r))
}

func start(t testing.TB, cfg server.Config, tlsCfg *tls.Config) *Server {
	t.Helper()
	plane, err := sfu.New(sfu.Config{Logger: cfg.Logger})
	if err != nil {
		t.Fatalf("starting the SFU: %v", err)
	}
	cfg.MediaPlane = plane
	s, err := server.New(cfg)
	if err != nil {
		plane.Close()
		t.Fatalf("starting the in-process server: %v", err)
	}
	if err := plane.Mount(s); err != nil {
		s.Close()
		t.Fatalf("mounting the SFU: %v", err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	base := "http://"
	if tlsCfg != nil {
		hs.Listener = tls.NewListener(hs.Listener, tlsCfg)
		base = "https://"
	}
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	addr := hs.Listener.Addr().String()
	return &Server{Server: s, SFU: plane, HTTP: base + addr, WS: "ws" + base[len("http"):] + addr + "/ws"}
}
