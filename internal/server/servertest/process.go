package servertest

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/syncio"
)

var build struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// Binary returns the livectl binary for tests that run it as a separate
// process: $LIVECTL_BIN when set (CI builds it once), otherwise cmd/livectl
// built once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("LIVECTL_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			t.Fatalf("LIVECTL_BIN %q: %v", b, err)
		}
		return abs
	}
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "livectl-test-bin")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "livectl")
		build.out, build.err = exec.Command("go", "build", "-o", build.path, "github.com/livectl/livectl/cmd/livectl").CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("building livectl: %v\n%s", build.err, build.out)
	}
	return build.path
}

// FreePort returns a loopback address ("127.0.0.1:PORT") free at the time
// of the call, for network "tcp" or "udp".
func FreePort(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is `livectl serve --dev` running as a separate process.
type Proc struct {
	Addr, Admin string // host:port of the public and admin listeners
	cmd         *exec.Cmd
	log         *syncio.Buffer // written by exec's copying goroutine, read by the test
	exited      chan struct{}  // closed when the process has ended
}

// HTTP is the public base URL; WS the signaling URL; AdminURL the pprof listener.
func (p *Proc) HTTP() string     { return "http://" + p.Addr }
func (p *Proc) WS() string       { return "ws://" + p.Addr + "/ws" }
func (p *Proc) AdminURL() string { return "http://" + p.Admin }

// Pid is the server's process id (for CPU and memory readings).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill ends the server abruptly, as a crash or a lost host would.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// StartProcess runs bin as `serve --dev` on free loopback ports and waits
// until /readyz answers.
func StartProcess(t testing.TB, ctx context.Context, bin string) *Proc {
	t.Helper()
	return StartProcessOn(t, ctx, bin, FreePort(t, "tcp"), FreePort(t, "tcp"))
}

// StartProcessOn is StartProcess on given listener addresses, so a test can
// restart a server where its clients expect it; extra are more serve
// flags. The process is killed when the test ends; its output is logged
// if the test failed.
func StartProcessOn(t testing.TB, ctx context.Context, bin, addr, admin string, extra ...string) *Proc {
	t.Helper()
	_, udp, _ := net.SplitHostPort(FreePort(t, "udp"))
	p := &Proc{Addr: addr, Admin: admin, log: &syncio.Buffer{}, exited: make(chan struct{})}
	args := append([]string{"serve", "--dev", "--listen", addr, "--admin-listen", admin,
		"--udp-port", udp, "--drain-timeout", "1s"}, extra...)
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s serve: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("serve log (%s):\n%s", addr, p.log.String())
		}
	})
	// Ready when this process says it is serving (it prints that once its
	// listeners are bound: a port taken meanwhile by another test's server
	// makes it exit instead) and /readyz answers.
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("serve on %s exited before it was ready: %v\n%s", addr, p.cmd.ProcessState, p.log.String())
		default:
		}
		var err error
		if strings.Contains(p.log.String(), " serving\n") {
			var resp *http.Response
			if resp, err = http.Get(p.HTTP() + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return p
				}
			}
		}
		if time.Now().After(deadline) {
			p.Kill() // before reading its output
			t.Fatalf("serve on %s not ready after 15s: %v\n%s", addr, err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
