package sfu

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer is a server with the SFU as its media plane behind a real
// loopback HTTP server.
type testServer struct {
	*server.Server
	sfu   *SFU
	http  *httptest.Server
	wsURL string
}

// wire builds a server with a new SFU (ICE on a free UDP port) as its
// media plane, as serve does, and closes it when the test ends.
func wire(t testing.TB, cfg server.Config, mc Config) (*server.Server, *SFU) {
	t.Helper()
	plane, err := New(mc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MediaPlane = plane
	srv, err := server.New(cfg)
	if err != nil {
		plane.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := plane.Mount(srv); err != nil {
		t.Fatal(err)
	}
	return srv, plane
}

func newMediaServer(t testing.TB, cfg server.Config, mc Config) *testServer {
	t.Helper()
	srv, plane := wire(t, cfg, mc)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close) // before the server closes: cleanups run last first
	return &testServer{Server: srv, sfu: plane, http: hs, wsURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
}

// serving runs Serve on a loopback listener and returns its address and a
// channel with Serve's result.
func serving(t *testing.T, cfg server.Config, ctx context.Context, force <-chan struct{}) (*server.Server, string, <-chan error) {
	t.Helper()
	srv, _ := wire(t, cfg, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil, force) }()
	return srv, ln.Addr().String(), done
}

// The helpers the tests of this package share with internal/server's.
var (
	dial    = testkit.Dial
	ctxT    = testkit.Ctx
	next    = testkit.Next[*signal.Message]
	waitFor = testkit.WaitFor
)
