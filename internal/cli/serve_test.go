package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
	"github.com/livectl/livectl/internal/signal"
)

func testFactory(out, errOut *bytes.Buffer) *Factory {
	f := NewFactory()
	f.IO = &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	f.LookupEnv = func(string) (string, bool) { return "", false }
	f.Logger = slog.New(slog.NewTextHandler(errOut, nil))
	return f
}

// TestTimeoutsMustBePositive: a zero or negative timeout given on purpose
// is reported; it was quietly replaced by the default.
func TestTimeoutsMustBePositive(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--connect-timeout", "0s"},
		{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--request-timeout", "-1s"},
		{"bench", "media", "--whep", "http://127.0.0.1:1/whep/r", "--timeout", "0s"},
		{"publish", "--url", "http://127.0.0.1:1/whip/r", "--connect-timeout", "-1s"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, args...)
			if code != ExitUsage || !strings.Contains(stderr, "must be positive") || !strings.Contains(stderr, args[len(args)-2]) {
				t.Errorf("exit %d, stderr %q; want exit 2 naming %s", code, stderr, args[len(args)-2])
			}
		})
	}
	// --room next to a WHIP URL is not used: said, not silently dropped.
	code, _, stderr := runCLI(t, nil, "publish", "--url", "http://127.0.0.1:1/whip/r", "--room", "other", "--connect-timeout", "1s")
	if code != ExitFailure || !strings.Contains(stderr, "warning: --room \"other\" is not used") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestServeUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no auth", []string{"serve"}, "--auth-secret is required"},
		{"bad max-conns", []string{"serve", "--dev", "--max-conns", "0"}, "--max-conns must be positive"},
		{"tiny message size", []string{"serve", "--dev", "--max-message-size", "10B"}, "--max-message-size must be at least 1KiB"},
		{"bad size unit", []string{"serve", "--dev", "--max-message-size", "64 lightyears"}, "max-message-size"},
		{"bad public ip", []string{"serve", "--dev", "--public-ip", "nowhere"}, "--public-ip"},
		{"bad port", []string{"serve", "--dev", "--udp-port", "70000"}, "--udp-port"},
		{"bad origin", []string{"serve", "--dev", "--allowed-origins", "example.com"}, "scheme://host"},
		{"short auth secret", []string{"serve", "--auth-secret", "hunter2"}, "needs at least 32"},
		{"bad STUN URL", []string{"serve", "--dev", "--stun", "http://stun.example.com:3478"}, "--stun"},
		{"NaN size", []string{"serve", "--dev", "--max-message-size", "nan"}, "invalid size"},
		{"zero request rate", []string{"serve", "--dev", "--request-rate", "0"}, "--request-rate must be positive"},
		{"NaN request rate", []string{"serve", "--dev", "--request-rate", "nan"}, "--request-rate must be positive"},
		{"zero chat rate", []string{"serve", "--dev", "--chat-rate", "0"}, "--chat-rate must be positive"},
		{"negative room chat rate", []string{"serve", "--dev", "--room-chat-rate", "-1"}, "--room-chat-rate must be positive"},
		{"zero chat max bytes", []string{"serve", "--dev", "--chat-max-bytes", "0"}, "--chat-max-bytes must be 1 to 16384"},
		{"negative chat history", []string{"serve", "--dev", "--chat-history", "-1"}, "must not be negative"},
		{"zero room list limit", []string{"serve", "--dev", "--room-list-limit", "0"}, "--room-list-limit must be positive"},
		{"zero room update interval", []string{"serve", "--dev", "--room-update-interval", "0s"}, "--room-update-interval must be positive"},
		{"zero GOP cache duration", []string{"serve", "--dev", "--gop-cache-max-duration", "0s"}, "--gop-cache-max-duration must be positive"},
		{"tiny GOP cache", []string{"serve", "--dev", "--gop-cache-max-bytes", "1KiB"}, "--gop-cache-max-bytes must be at least 64KiB"},
		{"zero request burst", []string{"serve", "--dev", "--request-burst", "0"}, "--request-burst must be positive"},
		// A malformed address is a usage error (it was exit 1 with a hint
		// about another process holding the port).
		{"listen without port", []string{"serve", "--dev", "--listen", "nonsense"}, "--listen: address nonsense: missing port"},
		{"listen port out of range", []string{"serve", "--dev", "--listen", "127.0.0.1:99999"}, "the port must be a number"},
		{"admin-listen malformed", []string{"serve", "--dev", "--admin-listen", "localhost"}, "--admin-listen"},
		{"secret flag and file", []string{"serve", "--auth-secret", strings.Repeat("s", 32), "--auth-secret-file", "/dev/null"}, "--auth-secret and --auth-secret-file both given"},
		{"secret file missing", []string{"serve", "--auth-secret-file", "/nonexistent/secret"}, "--auth-secret-file"},
		{"secret file empty", []string{"serve", "--auth-secret-file", "/dev/null"}, "is empty"},
		{"bad max-http-conns", []string{"serve", "--dev", "--max-http-conns", "-1"}, "--max-http-conns must be positive"},
		{"admin on the public listener", []string{"serve", "--dev", "--listen", "127.0.0.1:7999", "--admin-listen", "127.0.0.1:7999"}, "pprof must not be on the public listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			// Defaults first, so a case's own --listen/--admin-listen wins.
			args := append([]string{tc.args[0], "--listen", "127.0.0.1:0", "--admin-listen", ""}, tc.args[1:]...)
			code := Run(context.Background(), testFactory(&out, &errOut), args)
			if code != ExitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut.String(), tc.want)
			}
		})
	}
}

// TestServeDrain runs serve in-process with a fake signal channel.
func TestServeDrain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		timeout   time.Duration
		leave     bool // the client leaves when told to drain
		signals   int
		wantErr   bool
		maxReturn time.Duration
	}{
		{"clients leave", 10 * time.Second, true, 1, false, 3 * time.Second},
		{"drain timeout", 500 * time.Millisecond, false, 1, false, 3 * time.Second},
		{"second signal", time.Minute, false, 2, true, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			f := testFactory(&out, &errOut)
			sigs := make(chan os.Signal, 2)
			opts := testServeOptions()
			opts.AdminListen, opts.SendQueue, opts.DrainTimeout, opts.Signals = "127.0.0.1:0", 16, tc.timeout, sigs
			addr, done := startServe(t, f, opts, &errOut)

			drained := make(chan struct{})
			c, err := signal.Dial(context.Background(), "ws://"+addr+"/ws", &signal.DialOptions{OnEvent: func(m *signal.Message) {
				if m.Type == signal.TypeDraining {
					close(drained)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Join(context.Background(), "r", "a", ""); err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			sigs <- syscall.SIGTERM
			<-drained
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("readyz while draining = %d", resp.StatusCode)
			}
			if tc.leave {
				c.Close()
			}
			if tc.signals > 1 {
				sigs <- syscall.SIGINT
			}
			select {
			case err := <-done:
				if (err != nil) != tc.wantErr {
					t.Fatalf("serve returned %v, want error: %v", err, tc.wantErr)
				}
				if tc.wantErr && ExitCode(err) != ExitFailure {
					t.Fatalf("exit code %d", ExitCode(err))
				}
			case <-time.After(tc.maxReturn + tc.timeout):
				t.Fatal("serve did not return")
			}
			if d := time.Since(start); d > tc.maxReturn+min(tc.timeout, 10*time.Second) {
				t.Fatalf("serve took %s to return", d)
			}
			for _, want := range []string{"AUTH IS OFF", "ws://" + addr + "/ws", "/readyz", "/v1/stats", "/debug/pprof/"} {
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
				}
			}
			if out.Len() != 0 {
				t.Errorf("serve wrote to stdout: %q", out.String())
			}
		})
	}
}

// testServeOptions are valid serve options for in-process tests: --dev,
// loopback, a free UDP port, no admin listener, small limits.
func testServeOptions() *ServeOptions {
	return &ServeOptions{
		Listen: "127.0.0.1:0", Dev: true,
		MaxConns: 100, MaxRooms: 10, MaxParticipants: 10, SendQueue: 64, MaxMessageSize: 64 << 10, RequestRate: 50, RequestBurst: 50,
		WriteTimeout: time.Second, PingInterval: time.Minute, DrainTimeout: time.Second, UDPPort: 0,
		Rooms: server.RoomsConfig{ListLimit: 100, EventThreshold: 100, UpdateInterval: time.Second,
			ChatMaxBytes: 512, ChatRate: 5, ChatBurst: 10, RoomChatRate: 100},
	}
}

// startServe runs serve in-process with opts and returns its public
// address once it serves, and the channel its result arrives on.
func startServe(t *testing.T, f *Factory, opts *ServeOptions, errOut fmt.Stringer) (addr string, done <-chan error) {
	t.Helper()
	ready := make(chan net.Addr, 1)
	opts.Ready = func(pub, _ net.Addr) { ready <- pub }
	d := make(chan error, 1)
	go func() { d <- runServe(context.Background(), f, opts) }()
	select {
	case a := <-ready:
		return a.String(), d
	case err := <-d: // it would otherwise wait for ready for ever
		t.Fatalf("serve returned before serving: %v\n%s", err, errOut.String())
		return "", nil
	}
}

// TestServeSignalsSubprocess sends real signals to a `livectl serve`
// process: SIGTERM drains and exits 0 once the client has gone; a second
// signal exits at once with 1.
func TestServeSignalsSubprocess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := servertest.Binary(t)
	for _, tc := range []struct {
		name     string
		second   bool
		wantCode int
	}{
		{"drain then exit 0", false, 0},
		{"second signal exits 1", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--admin-listen", "", "--udp-port", "0", "--drain-timeout", "30s")
			pr, pw, _ := os.Pipe()
			cmd.Stdout, cmd.Stderr = pw, pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			defer pr.Close()
			exited := make(chan int, 1)
			go func() {
				cmd.Wait()
				exited <- cmd.ProcessState.ExitCode()
			}()
			defer func() {
				cmd.Process.Kill()
			}()
			url := make(chan string, 1)
			go func() {
				re := regexp.MustCompile(`ws://127\.0\.0\.1:\d+/ws`)
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					if m := re.FindString(sc.Text()); m != "" {
						url <- m
					}
				}
			}()
			var u string
			select {
			case u = <-url:
			case <-time.After(15 * time.Second):
				t.Fatal("serve printed no URL")
			}
			drained := make(chan struct{})
			c, err := signal.Dial(context.Background(), u, &signal.DialOptions{OnEvent: func(m *signal.Message) {
				if m.Type == signal.TypeDraining {
					close(drained)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-drained:
			case <-time.After(5 * time.Second):
				t.Fatal("no draining notice")
			}
			start := time.Now()
			if tc.second {
				cmd.Process.Signal(syscall.SIGINT)
			} else {
				c.Close()
			}
			select {
			case code := <-exited:
				if code != tc.wantCode {
					t.Fatalf("exit code %d, want %d", code, tc.wantCode)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("serve did not exit")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("exit took %s", d)
			}
			if tc.second {
				select {
				case <-c.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("client still connected after the server exited")
				}
			}
		})
	}
}

// TestServeAuthSecretFile: the secret can come from a file, so that it is
// not on a command line (which /proc and, before issue 15, the admin
// listener's /debug/pprof/cmdline gave to anyone).
func TestServeAuthSecretFile(t *testing.T) {
	secret := strings.Repeat("k", 40)
	path := t.TempDir() + "/secret"
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	f := testFactory(&out, &errOut)
	o := &ServeOptions{Listen: "127.0.0.1:0", AuthSecretFile: path, MaxConns: 1, MaxRooms: 1, MaxParticipants: 1,
		SendQueue: 1, RequestRate: 1, RequestBurst: 1, MaxHTTPConns: 1, MaxMessageSize: 1 << 10,
		WriteTimeout: time.Second, PingInterval: time.Second, DrainTimeout: time.Second,
		Rooms: server.RoomsConfig{ListLimit: 1, EventThreshold: 1, ChatBurst: 1, ChatRate: 1, RoomChatRate: 1,
			ChatMaxBytes: 1, UpdateInterval: time.Second}}
	if err := o.validate(f); err != nil {
		t.Fatal(err)
	}
	if o.AuthSecret != secret {
		t.Fatalf("secret from the file = %q, want %q (newline trimmed)", o.AuthSecret, secret)
	}
}

func TestWithListenName(t *testing.T) {
	for _, tc := range []struct {
		listen string
		want   []string
	}{
		{"127.0.0.1:7880", []string{"a"}},
		{":7880", []string{"a"}},
		{"[::]:7880", []string{"a"}},
		{"sfu.internal:7880", []string{"a", "sfu.internal"}},
	} {
		if got := withListenName([]string{"a"}, tc.listen); !slices.Equal(got, tc.want) {
			t.Errorf("withListenName(%q) = %q, want %q", tc.listen, got, tc.want)
		}
	}
}
