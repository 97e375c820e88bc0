// Package redistest runs a real redis-server for tests: on a free loopback
// port, persistence off, stopped when the test ends. Tests that need Redis
// skip, saying why, when redis-server is not installed, unless
// LIVECTL_REQUIRE_REDIS=1 (CI), where a missing binary fails them.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/server/servertest"
)

// Binary is the redis-server the harness runs (Debian's path by default).
var Binary = "redis-server"

// Server is a running (or stopped, to be restarted) redis-server.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives cmd's Wait result
}

// Start runs redis-server on a free loopback port and stops it at the end
// of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		if os.Getenv("LIVECTL_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server not found (%v) and LIVECTL_REQUIRE_REDIS=1: install it (apt-get install redis-server)", err)
		}
		t.Skipf("redis-server not found (%v): install it (apt-get install redis-server) to run this test", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	var last error
	for range 5 { // a free port can be taken between probe and bind
		s.port = freePort(t)
		if last = s.start(); last == nil {
			return s
		}
	}
	t.Fatalf("starting redis-server: %v", last)
	return nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server as a redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Nodes runs one `serve --dev --cluster` process of bin per id on this
// Redis (servertest.StartProcessFree: free loopback ports, killed when the
// test ends), each with --node-id id and its own address as --advertise-url.
func (s *Server) Nodes(t testing.TB, ctx context.Context, bin string, ids ...string) map[string]*servertest.Proc {
	t.Helper()
	procs := make(map[string]*servertest.Proc, len(ids))
	for _, id := range ids {
		procs[id] = servertest.StartProcessFree(t, ctx, bin, func(addr string) []string {
			return []string{"--cluster", s.URL(), "--node-id", id, "--advertise-url", "http://" + addr}
		})
	}
	return procs
}

// Stop kills the server (SIGKILL: Redis going away unannounced, as on a
// crash) and waits for it; a stopped server can be restarted.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same port, empty (no
// persistence), and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 50 { // the port may linger a moment after the kill
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restarting redis-server on port %d: %v", s.port, err)
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server exited at start (%v): %s", err, strings.TrimSpace(out.String()))
		default:
		}
		if ping(s.Addr()) == nil {
			s.mu.Lock()
			s.cmd, s.exited = cmd, exited
			s.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server did not answer PING within 10s: %s", strings.TrimSpace(out.String()))
}

// ping sends PING over RESP and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
