//go:build e2e

package top

// End-to-end test of `livectl top`: the real binary in a tmux pane against
// a real `livectl serve` with real signaling sessions. Run it with
//
//	go test -tags e2e -run TestTopE2E -count=1 -v ./internal/top/
//
// It needs tmux (apt-get install tmux) and skips, saying so, without it.
// LIVECTL_BIN may name a prebuilt binary; otherwise the test builds one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/server/servertest"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/stats"
	"github.com/livectl/livectl/internal/syncio"
)

// e2eRooms are opened by the test itself, so the screen can be checked for
// known names whatever else (bench) adds.
var e2eRooms = []struct {
	name  string
	count int
}{{"e2e-alpha", 5}, {"e2e-beta", 3}, {"e2e-gamma", 1}}

func TestTopE2E(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: install it (apt-get install tmux) to run the top end-to-end test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := servertest.Binary(t)
	dir := t.TempDir()

	srv := servertest.StartProcess(t, ctx, bin)
	sessions := openSessions(t, ctx, srv.WS())
	benchRooms := startBench(t, ctx, bin, srv)

	// --- --once and the non-terminal hint, against the same server ---
	t.Run("once json", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, bin, "top", "--once", "-o", "json", "--interval", "200ms",
			"--target", srv.HTTP(), "--admin", srv.AdminURL()).Output()
		if err != nil {
			t.Fatalf("top --once: %v", err)
		}
		var rep OnceReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("not one JSON document: %v\n%s", err, out)
		}
		names := map[string]bool{}
		for _, r := range rep.Stats.Rooms {
			names[r.Name] = true
		}
		if !names["e2e-alpha"] || rep.Rates == nil || rep.Goroutines == nil || rep.Goroutines.Total < 10 {
			t.Errorf("snapshot incomplete: rooms %v rates %v goroutines %+v (%s)", names, rep.Rates, rep.Goroutines, rep.GoroutinesError)
		}
	})
	t.Run("not a terminal", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, bin, "top", "--target", srv.HTTP())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("exit %v, want 2", err)
		}
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), "--once -o json") || strings.Contains(stderr.String(), "\x1b") {
			t.Errorf("stdout %q, stderr %q: want only a plain hint on stderr", stdout.String(), stderr.String())
		}
	})

	// --- the dashboard in tmux ---
	tm := newTmux(t, dir)
	exitFile := filepath.Join(dir, "top.exit")
	tm.start(fmt.Sprintf("%q top --target %s --admin %s --interval 500ms; echo $? > %q",
		bin, srv.HTTP(), srv.AdminURL(), exitFile), 100, 30)

	publish := startPublish(t, ctx, bin, srv)

	// Every room the server reports, the test's own and bench's, is shown.
	want := append([]string{"LIVE", "e2e-alpha", "e2e-beta", "e2e-gamma"}, benchRooms(t)...)
	screen := tm.waitFor(t, "rooms shown", 20*time.Second, want...)
	t.Logf("first screen:\n%s", screen)
	if !regexp.MustCompile(`conns\s+\d+`).MatchString(screen) {
		t.Errorf("no connection count:\n%s", screen)
	}

	t.Run("media bitrate", func(t *testing.T) {
		if publish == nil {
			t.Skip("this binary has no 'livectl publish': media part not exercised")
		}
		// One publisher with video and audio: a non-zero inbound bitrate in
		// its room's row and in the derived total. Columns: PART VIEW PUB
		// SUB TRK MSG/s DLV/s IN.
		row := regexp.MustCompile(`e2e-media\s+1\s+0\s+1\s+0\s+2\s+0\s+0\s+[1-9][\d.]* [kM]b/s`)
		total := regexp.MustCompile(`bitrate in\s+[1-9][\d.]* [kM]b/s`)
		deadline := time.Now().Add(20 * time.Second)
		for {
			screen := tm.capture()
			if row.MatchString(screen) && total.MatchString(screen) {
				t.Logf("with media:\n%s", screen)
				return
			}
			if err := publish.exited(); err != nil {
				if strings.Contains(publish.output(), "unsupported") {
					t.Skipf("the server has no media plane: %s", publish.output())
				}
				t.Fatalf("livectl publish ended: %v\n%s", err, publish.output())
			}
			if time.Now().After(deadline) {
				t.Fatalf("no media bitrate on screen after 20s:\n%s\npublish: %s", screen, publish.output())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	tm.keys("/")
	tm.keys("beta")
	tm.keys("Enter")
	screen = tm.waitFor(t, "filter applied", 5*time.Second, `filter "beta"`, "e2e-beta")
	if strings.Contains(screen, "e2e-alpha") {
		t.Errorf("filter did not hide e2e-alpha:\n%s", screen)
	}
	tm.keys("Escape")
	tm.waitFor(t, "filter cleared", 5*time.Second, "e2e-alpha", "e2e-beta")

	tm.keys("s")
	tm.waitFor(t, "sorted by bitrate in", 5*time.Second, "sort bitrate in", "IN▼")
	tm.keys("s", "s", "s")
	screen = tm.waitFor(t, "sorted by name", 5*time.Second, "sort name", "ROOM▲")
	if a, b, g := strings.Index(screen, "e2e-alpha"), strings.Index(screen, "e2e-beta"), strings.Index(screen, "e2e-gamma"); !(a < b && b < g) {
		t.Errorf("rooms not sorted by name:\n%s", screen)
	}

	tm.keys("Tab")
	screen = tm.waitFor(t, "goroutine view", 10*time.Second, "goroutines, largest", "COUNT", "TOP FUNCTION")
	t.Logf("goroutine view:\n%s", screen)
	tm.keys("Tab")
	tm.waitFor(t, "nodes view of a server without --cluster", 5*time.Second, "runs alone")
	tm.keys("Tab")
	tm.waitFor(t, "back to rooms", 5*time.Second, "e2e-alpha")

	tm.keys("p")
	tm.waitFor(t, "paused", 5*time.Second, "PAUSED")
	tm.keys("p")
	tm.waitFor(t, "resumed", 5*time.Second, "LIVE")

	tm.keys("?")
	tm.waitFor(t, "help", 5*time.Second, "reverse sort")
	tm.keys("?")

	tm.resize(80, 24)
	screen = tm.waitFor(t, "redrawn at 80x24", 5*time.Second, "e2e-alpha", "help")
	for i, l := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line %d is %d wide after resize: %q", i, n, l)
		}
	}

	// The server goes away: the screen says so, top keeps trying.
	sessions.close()
	srv.Kill()
	screen = tm.waitFor(t, "disconnect shown", 10*time.Second, "DISCONNECTED", "unreachable")
	t.Logf("server gone:\n%s", screen)
	// ... and comes back on the same address.
	srv = servertest.StartProcessOn(t, ctx, bin, srv.Addr, srv.Admin)
	tm.waitFor(t, "reconnected", 30*time.Second, "LIVE", "no rooms")
	sessions = openSessions(t, ctx, srv.WS())
	screen = tm.waitFor(t, "rooms again", 10*time.Second, "e2e-alpha", "e2e-gamma")
	t.Logf("after reconnect:\n%s", screen)

	tm.keys("q")
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(exitFile)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			if code := strings.TrimSpace(string(b)); code != "0" {
				t.Errorf("top exited %s after q, want 0", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("top did not exit within 5s of q; screen:\n%s", tm.capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
	sessions.close()
}

type sessionSet struct {
	mu      sync.Mutex
	clients []*signal.Client
}

func (s *sessionSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		_ = c.Close()
	}
	s.clients = nil
}

// openSessions joins e2eRooms with real signaling sessions.
func openSessions(t *testing.T, ctx context.Context, url string) *sessionSet {
	t.Helper()
	set := &sessionSet{}
	t.Cleanup(set.close)
	for _, r := range e2eRooms {
		for i := range r.count {
			c, err := signal.Dial(ctx, url, nil)
			if err != nil {
				t.Fatalf("dialing %s: %v", url, err)
			}
			set.clients = append(set.clients, c)
			if _, err := c.Join(ctx, r.name, fmt.Sprintf("%s-%d", r.name, i), ""); err != nil {
				t.Fatalf("joining %s: %v", r.name, err)
			}
		}
	}
	return set
}

// startBench runs `livectl bench signal` against the server for the length
// of the test when this binary has it, and returns a function listing the
// rooms it opened (read from /v1/stats). Without bench signal the test still
// runs on the sessions openSessions made, and says so.
func startBench(t *testing.T, ctx context.Context, bin string, srv *servertest.Proc) func(*testing.T) []string {
	t.Helper()
	help, err := exec.CommandContext(ctx, bin, "bench", "signal", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "--conns") {
		t.Log("livectl bench signal is not available in this binary: sessions come from the test's own signaling clients only")
		return func(*testing.T) []string { return nil }
	}
	bctx, cancel := context.WithCancel(ctx)
	var out bytes.Buffer
	cmd := exec.CommandContext(bctx, bin, "bench", "signal", "--url", srv.WS(),
		"--conns", "30", "--rate", "100", "--rooms", "3", "--duration", "2m", "-q")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting bench signal: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("bench signal output:\n%s", out.String())
		}
	})
	return func(t *testing.T) []string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var rooms []string
			if s, err := fetchStats(srv.HTTP()); err == nil {
				for _, r := range s.Rooms {
					if !strings.HasPrefix(r.Name, "e2e-") {
						rooms = append(rooms, r.Name)
					}
				}
				if len(rooms) > 0 && s.Connections >= 30 {
					return rooms
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("bench signal opened no rooms within 15s:\n%s", out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// publishProc is a running `livectl publish`.
type publishProc struct {
	out  syncio.Buffer // its output, written by exec's copying goroutine
	done chan struct{}
	err  error
}

func (p *publishProc) output() string { return p.out.String() }

// exited is nil while the publisher runs, else why it stopped.
func (p *publishProc) exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return errors.New("exited early")
		}
		return p.err
	default:
		return nil
	}
}

// startPublish publishes the built-in clip into room e2e-media, or returns
// nil when the binary has no publish command.
func startPublish(t *testing.T, ctx context.Context, bin string, srv *servertest.Proc) *publishProc {
	t.Helper()
	help, err := exec.CommandContext(ctx, bin, "publish", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "--room") {
		t.Log("livectl publish is not available in this binary: no media in this run")
		return nil
	}
	p := &publishProc{done: make(chan struct{})}
	pctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(pctx, bin, "publish", "--url", srv.WS(), "--room", "e2e-media",
		"--identity", "e2e-publisher", "--duration", "2m")
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting publish: %v", err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

func fetchStats(base string) (*stats.Snapshot, error) {
	src, err := NewHTTPStats(base, nil)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return src.FetchStats(ctx)
}

// tmuxPane drives one pane on a private tmux server (-L), so the test never
// touches the user's own tmux sessions.
type tmuxPane struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T, dir string) *tmuxPane {
	tm := &tmuxPane{t: t, socket: fmt.Sprintf("livectl-e2e-%d", os.Getpid())}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmuxPane) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (tm *tmuxPane) start(command string, w, h int) {
	tm.run("new-session", "-d", "-s", "top", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h),
		"env", "TERM=xterm-256color", "sh", "-c", command)
}

// keys sends each argument as one key or string, pausing between them so a
// lone Escape is not read as the start of an Alt sequence.
func (tm *tmuxPane) keys(keys ...string) {
	for _, k := range keys {
		args := []string{"send-keys", "-t", "top"}
		if len([]rune(k)) > 1 && !isTmuxKeyName(k) {
			args = append(args, "-l")
		}
		tm.run(append(args, k)...)
		time.Sleep(150 * time.Millisecond)
	}
}

func isTmuxKeyName(k string) bool {
	switch k {
	case "Enter", "Escape", "Tab", "Up", "Down", "BSpace":
		return true
	}
	return false
}

func (tm *tmuxPane) resize(w, h int) {
	tm.run("resize-window", "-t", "top", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h))
}

func (tm *tmuxPane) capture() string {
	return tm.run("capture-pane", "-p", "-t", "top")
}

// waitFor polls the pane until it shows every string, and returns the screen.
func (tm *tmuxPane) waitFor(t *testing.T, what string, d time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		screen := tm.capture()
		missing := ""
		for _, w := range want {
			if !strings.Contains(screen, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return screen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q not on screen after %s:\n%s", what, missing, d, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
