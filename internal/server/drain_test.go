package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/signal"
)

// serving runs Serve on loopback listeners and returns the public base URL
// and a channel with Serve's result.
func serving(t *testing.T, cfg Config, ctx context.Context, force <-chan struct{}) (*Server, string, <-chan error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, adm, force) }()
	t.Cleanup(func() { s.Close() })
	return s, "127.0.0.1:" + portOf(ln), done
}

func portOf(ln net.Listener) string { return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) }

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDrain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, addr, done := serving(t, Config{DrainTimeout: 10 * time.Second}, ctx, nil)
	ws := "ws://" + addr + "/ws"

	notices := make(chan *signal.Message, 4)
	joined := dial(t, ws, &signal.DialOptions{OnEvent: func(m *signal.Message) { notices <- m }})
	if _, err := joined.Join(ctxT(t), "r", "a", ""); err != nil {
		t.Fatal(err)
	}
	idle := dial(t, ws, nil)
	if got := status(t, "http://"+addr+"/readyz"); got != 200 {
		t.Fatalf("readyz before drain = %d", got)
	}

	start := time.Now()
	cancel()
	m := next(t, notices)
	if m.Type != signal.TypeDraining || m.DeadlineMS < 9000 || m.DeadlineMS > 10000 {
		t.Fatalf("notice = %+v, want draining with ~10s deadline", m)
	}
	if got := status(t, "http://"+addr+"/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz while draining = %d, want 503", got)
	}
	if got := status(t, "http://"+addr+"/healthz"); got != 200 {
		t.Fatalf("healthz while draining = %d, want 200", got)
	}
	if _, err := idle.Join(ctxT(t), "r", "b", ""); !errors.Is(err, &signal.Error{Code: signal.CodeDraining}) {
		t.Fatalf("join while draining = %v, want draining", err)
	}
	if _, err := signal.Dial(context.Background(), ws, nil); !errors.Is(err, &signal.Error{Code: signal.CodeDraining}) {
		t.Fatalf("new connection while draining = %v, want draining", err)
	}
	if st := s.Stats(); st.State != "draining" {
		t.Fatalf("stats state = %q", st.State)
	}
	// Serve returns as soon as the clients are gone, well before the deadline.
	joined.Close()
	idle.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the clients left")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("drain took %s", d)
	}
}

func TestDrainTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, addr, done := serving(t, Config{DrainTimeout: 300 * time.Millisecond}, ctx, nil)
	c := dial(t, "ws://"+addr+"/ws", nil)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return at the drain timeout")
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 300*time.Millisecond+2*closeGrace {
		t.Fatalf("Serve returned after %s, want the 300ms timeout plus at most the close grace", d)
	}
	<-c.Done()
	var ce *signal.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != signal.CloseGoingAway {
		t.Fatalf("client ended with %v, want close 1001", c.Err())
	}
}

func TestDrainForced(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	force := make(chan struct{})
	_, addr, done := serving(t, Config{DrainTimeout: time.Minute}, ctx, force)
	dial(t, "ws://"+addr+"/ws", nil)
	cancel()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	close(force)
	select {
	case err := <-done:
		if !errors.Is(err, ErrForced) {
			t.Fatalf("Serve = %v, want ErrForced", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return when forced")
	}
	if d := time.Since(start); d > 2*closeGrace {
		t.Fatalf("forced exit took %s", d)
	}
}
