package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/signal"
)

// Environment of the session-holding child process (TestIdleSessionCost).
const (
	envHoldURL   = "LIVECTL_TEST_HOLD_URL"
	envHoldN     = "LIVECTL_TEST_HOLD_N"
	envHoldRooms = "LIVECTL_TEST_HOLD_ROOMS"
)

// holdSessionsChild runs instead of the tests when the test binary is
// re-executed as the client process of the memory measurement: it opens N
// sessions, joins them to rooms, prints READY, and holds them until stdin
// closes. Client and server must be separate processes because each holds
// one descriptor per session and a process may have 20,000.
func holdSessionsChild() bool {
	url := os.Getenv(envHoldURL)
	if url == "" {
		return false
	}
	n, _ := strconv.Atoi(os.Getenv(envHoldN))
	rooms, _ := strconv.Atoi(os.Getenv(envHoldRooms))
	if rooms <= 0 {
		rooms = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clients := make([]*signal.Client, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := signal.Dial(ctx, url, nil)
			if err == nil {
				clients[i] = c
				_, err = c.Join(ctx, fmt.Sprintf("room-%d", i%rooms), fmt.Sprintf("user-%d", i), "")
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("session %d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		fmt.Println("ERROR", firstErr)
		os.Exit(1)
	}
	fmt.Println("READY")
	// Hold until the parent closes our stdin.
	r := bufio.NewReader(os.Stdin)
	for {
		if _, err := r.ReadByte(); err != nil {
			break
		}
	}
	os.Exit(0)
	return true
}

// listenServer serves a new Server on a loopback port and returns its /ws URL.
func listenServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler()}
	go hs.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return s, "ws://" + ln.Addr().String() + "/ws"
}

// holdSessions starts a child process (this test binary, see
// holdSessionsChild) holding n sessions joined to rooms rooms; release
// ends it and waits for it.
func holdSessions(t testing.TB, url string, n, rooms int) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHoldURL+"="+url, envHoldN+"="+strconv.Itoa(n), envHoldRooms+"="+strconv.Itoa(rooms))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	release = func() {
		stdin.Close()
		cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "READY" {
		release()
		t.Fatalf("session-holding child: %q %v", line, err)
	}
	t.Cleanup(release)
	return release
}

// allIdle reports whether no session has a write loop running.
func allIdle(s *Server) bool {
	for _, sess := range s.snapshotSessions() {
		sess.mu.Lock()
		busy := sess.writing
		sess.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
}
