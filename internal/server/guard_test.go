package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/signal"
)

// TestHostCheck: both listeners answer only Host values that name them,
// so a DNS-rebinding page (its own domain resolving to this server) can
// neither drive /ws, even with --dev, nor read the admin listener. Before
// (issue 15), /ws upgraded any Host whose Origin matched it, and the admin
// listener answered any Host, /debug/pprof/cmdline included.
func TestHostCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		admin bool
		host  string // "PORT" is replaced by the server's port
		path  string
		want  int
	}{
		{name: "loopback IP", host: "127.0.0.1:PORT", path: "/healthz", want: 200},
		{name: "localhost", host: "localhost:PORT", path: "/healthz", want: 200},
		{name: "localhost, other port (a port mapping)", host: "localhost:8080", path: "/healthz", want: 200},
		{name: "IPv6 loopback", host: "[::1]:PORT", path: "/healthz", want: 200},
		{name: "rebinding name", host: "rebind.example:PORT", path: "/healthz", want: 421},
		{name: "other IP", host: "192.0.2.7:PORT", path: "/healthz", want: 421},
		{name: "rebinding name with --dev", cfg: Config{AllowAllOrigins: true}, host: "rebind.example:PORT", path: "/healthz", want: 421},
		{name: "listed name", cfg: Config{AllowedHosts: []string{"sfu.example"}}, host: "SFU.example:PORT", path: "/healthz", want: 200},
		{name: "listed host:port", cfg: Config{AllowedHosts: []string{"sfu.example:443"}}, host: "sfu.example:443", path: "/healthz", want: 200},
		{name: "any host", cfg: Config{AllowedHosts: []string{"*"}}, host: "rebind.example", path: "/healthz", want: 200},
		{name: "admin loopback", admin: true, host: "127.0.0.1:PORT", path: "/debug/pprof/", want: 200},
		{name: "admin rebinding name", admin: true, host: "rebind.example:PORT", path: "/v1/stats", want: 421},
		{name: "admin: public list does not apply", admin: true, cfg: Config{AllowedHosts: []string{"sfu.example"}}, host: "sfu.example", path: "/v1/stats", want: 421},
		{name: "admin listed name", admin: true, cfg: Config{AdminAllowedHosts: []string{"ops.example"}}, host: "ops.example:PORT", path: "/v1/stats", want: 200},
		{name: "admin cmdline dropped", admin: true, host: "127.0.0.1:PORT", path: "/debug/pprof/cmdline", want: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := s.Handler()
			if tc.admin {
				h = s.AdminHandler()
			}
			hs := httptest.NewServer(h)
			t.Cleanup(func() { s.Close(); hs.Close() })
			req, _ := http.NewRequest("GET", hs.URL+tc.path, nil)
			req.Host = strings.Replace(tc.host, "PORT", hs.URL[strings.LastIndex(hs.URL, ":")+1:], 1)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("GET %s with Host %s: %d %q, want %d", tc.path, req.Host, resp.StatusCode, body, tc.want)
			}
		})
	}
}

// TestRebindingWebSocket: a rebinding page's /ws upgrade (its Origin and
// Host both the attacker's name) is refused, with --dev too.
func TestRebindingWebSocket(t *testing.T) {
	ts := newTestServer(t, Config{AllowAllOrigins: true})
	port := ts.http.URL[strings.LastIndex(ts.http.URL, ":")+1:]
	h := http.Header{"Origin": {"http://rebind.example:" + port}, "Host": {"rebind.example:" + port}}
	_, err := signal.Dial(context.Background(), ts.wsURL, &signal.DialOptions{Header: h})
	var de *signal.DialError
	if !errors.As(err, &de) || de.Status != http.StatusMisdirectedRequest {
		t.Fatalf("dial as rebind.example = %v, want 421", err)
	}
}

// Environment of the descriptor-limited server child (TestHeldConnections).
const envNofileServer = "LIVECTL_TEST_NOFILE_SERVER"

// nofileServerChild runs instead of the tests when the test binary is
// re-executed as TestHeldConnections' server: Serve, limited to the number
// of descriptors in the environment, on a loopback port it prints, until
// stdin closes.
func nofileServerChild() bool {
	v := os.Getenv(envNofileServer)
	if v == "" {
		return false
	}
	var n uint64
	fmt.Sscan(v, &n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	s, err := New(Config{Limits: Limits{MaxHTTPConns: 100, BodyReadTimeout: 2 * time.Second}})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println(ln.Addr())
	_ = s.Serve(ctx, ln, nil, nil)
	os.Exit(0)
	return true
}

// TestHeldConnections is issue 15's repro: clients send a request that
// announces a one-byte body and never send it. They were held for ever and
// did not count towards --max-conns; once the process had no descriptors
// left, /healthz and /ws stopped answering. Against a server process
// limited to 256 descriptors, 300 such requests (more than it can hold)
// now leave /healthz and /ws answering: plain HTTP connections are capped
// (100 here) and each held body is abandoned at the body deadline (2 s
// here).
func TestHeldConnections(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNofileServer+"=256")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr := strings.TrimSpace(line)
	if err != nil || strings.HasPrefix(addr, "ERROR") {
		t.Fatalf("server child: %q %v", line, err)
	}

	const held = 300
	conns := make([]net.Conn, 0, held)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range held {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // the listen backlog is full: the server holds what it can
		}
		conns = append(conns, c)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\n")
	}
	t.Logf("%d connections opened, each holding a request body back", len(conns))
	time.Sleep(200 * time.Millisecond)

	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz with %d held connections: %v", len(conns), err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := signal.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("/ws with %d held connections: %v", len(conns), err)
	}
	defer c.Close()
	if _, _, err := c.Ping(ctx); err != nil {
		t.Fatalf("/ws ping: %v", err)
	}
	// Every held connection is closed by the server: evicted at the cap,
	// or its body abandoned at the deadline. The WebSocket stays.
	deadline := time.Now().Add(10 * time.Second)
	for i, hc := range conns {
		hc.SetReadDeadline(deadline)
		// EOF, or a reset: the server closed it with the request unread.
		if _, err := io.Copy(io.Discard, hc); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("held connection %d not closed by the server: %v", i, err)
		}
	}
	if _, _, err := c.Ping(ctx); err != nil {
		t.Fatalf("/ws session ended with the held connections: %v", err)
	}
}

// TestMaxHTTPConnsDefault: unset, the plain-HTTP cap grows with --max-conns,
// since every /ws client is a plain HTTP connection until its upgrade; a
// fixed 1,024 closed handshakes in progress during a connect storm.
func TestMaxHTTPConnsDefault(t *testing.T) {
	for _, tc := range []struct {
		limits Limits
		want   int
	}{
		{Limits{}, DefaultMaxConns / 2},
		{Limits{MaxConns: 100}, DefaultMaxHTTPConns},
		{Limits{MaxConns: 25000}, 12500},
		{Limits{MaxConns: 25000, MaxHTTPConns: 300}, 300},
	} {
		s, err := New(Config{Limits: tc.limits})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.cfg.Limits.MaxHTTPConns; got != tc.want {
			t.Errorf("%+v: MaxHTTPConns = %d, want %d", tc.limits, got, tc.want)
		}
		s.Close()
	}
}
