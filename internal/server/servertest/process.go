package servertest

import (
	"context"
	"errors"
	"fmt"
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
	return StartProcessFree(t, ctx, bin, nil)
}

// StartProcessFree is StartProcess with more serve flags, which may name
// the public address (a cluster node's --advertise-url). A free port is
// only free when probed: another process (or an outgoing connection's
// ephemeral port) can take it before serve binds it, so a start that fails
// on a taken address is tried again on fresh ports.
func StartProcessFree(t testing.TB, ctx context.Context, bin string, extra func(addr string) []string) *Proc {
	t.Helper()
	var err error
	for range 5 {
		addr := FreePort(t, "tcp")
		var flags []string
		if extra != nil {
			flags = extra(addr)
		}
		var p *Proc
		if p, err = startProcess(t, ctx, bin, addr, FreePort(t, "tcp"), flags); err == nil {
			return p
		}
		if !errors.Is(err, errAddrTaken) {
			break
		}
	}
	t.Fatal(err)
	return nil
}

// StartProcessOn is StartProcess on given listener addresses, so a test can
// restart a server where its clients expect it; extra are more serve
// flags. The process is killed when the test ends; its output is logged
// if the test failed.
func StartProcessOn(t testing.TB, ctx context.Context, bin, addr, admin string, extra ...string) *Proc {
	t.Helper()
	p, err := startProcess(t, ctx, bin, addr, admin, extra)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// errAddrTaken: serve exited because one of its addresses was taken.
var errAddrTaken = errors.New("an address was taken before serve bound it")

// startProcess starts serve once and waits until it is ready. The process
// is killed when the test ends, also when it never got ready.
func startProcess(t testing.TB, ctx context.Context, bin, addr, admin string, extra []string) (*Proc, error) {
	t.Helper()
	_, udp, _ := net.SplitHostPort(FreePort(t, "udp"))
	p := &Proc{Addr: addr, Admin: admin, log: &syncio.Buffer{}, exited: make(chan struct{})}
	args := append([]string{"serve", "--dev", "--listen", addr, "--admin-listen", admin,
		"--udp-port", udp, "--drain-timeout", "1s"}, extra...)
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s serve: %w", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	ready := false
	t.Cleanup(func() {
		p.Kill()
		if ready && t.Failed() {
			t.Logf("serve log (%s):\n%s", addr, p.log.String())
		}
	})
	// Ready when this process says it is serving (it prints that once its
	// listeners are bound: a port taken meanwhile makes it exit instead)
	// and /readyz answers.
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			out := p.log.String()
			err := fmt.Errorf("serve on %s exited before it was ready: %v\n%s", addr, p.cmd.ProcessState, out)
			if strings.Contains(out, "address already in use") {
				err = fmt.Errorf("%w: %w", errAddrTaken, err)
			}
			return nil, err
		default:
		}
		var err error
		if strings.Contains(p.log.String(), " serving\n") {
			var resp *http.Response
			if resp, err = http.Get(p.HTTP() + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ready = true
					return p, nil
				}
			}
		}
		if time.Now().After(deadline) {
			p.Kill() // before reading its output
			return nil, fmt.Errorf("serve on %s not ready after 15s: %v\n%s", addr, err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
