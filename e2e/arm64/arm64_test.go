//go:build qemu

// Package arm64 runs the linux/arm64 release binary under qemu-user, as the
// edge agents' ARM64 boards would run it: `version`, then a short `serve`
// that a publisher and a probe from this machine's binary (the host's
// architecture) use, the probe decoding a frame.
//
//	make e2e-arm64
//
// LIVECTL_ARM64_BIN and LIVECTL_BIN name the two binaries (make passes
// dist/livectl-linux-arm64 and bin/livectl); unset, the test builds them.
// Without qemu-aarch64 (Debian: qemu-user or qemu-user-static) it skips,
// saying so, unless LIVECTL_REQUIRE_QEMU=1 (CI), which makes it fail.
package arm64

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/server/servertest"
)

func TestARM64UnderQEMU(t *testing.T) {
	qemu := findQEMU(t)
	arm := binary(t, "LIVECTL_ARM64_BIN", "arm64")
	host := binary(t, "LIVECTL_BIN", "")

	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(qemu, arm, "version", "-o", "json").Output()
		if err != nil {
			t.Fatalf("livectl version under %s: %v", qemu, errText(err))
		}
		var b struct{ Version, Commit, Platform string }
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("version -o json printed %q: %v", out, err)
		}
		if b.Platform != "linux/arm64" || b.Version == "" {
			t.Fatalf("version says %+v, want a linux/arm64 binary with a version", b)
		}
		t.Logf("arm64 binary: %+v", b)
	})

	t.Run("serve+probe", func(t *testing.T) {
		base := servertest.FreePort(t, "tcp")
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()

		var serveErr bytes.Buffer
		serve := exec.Command(qemu, arm, "serve", "--dev", "--listen", base, "--admin-listen", "", "--udp-port", "0")
		serve.Stderr = &serveErr
		if err := serve.Start(); err != nil {
			t.Fatalf("starting serve under qemu: %v", err)
		}
		served := make(chan error, 1)
		go func() { served <- serve.Wait() }()
		defer func() {
			if serve.ProcessState == nil {
				serve.Process.Kill()
				<-served
			}
		}()
		waitHealthy(t, ctx, "http://"+base+"/healthz", served, &serveErr)

		room := "arm64"
		pub := exec.CommandContext(ctx, host, "publish", "--url", "ws://"+base+"/ws", "--room", room, "--duration", "3m", "-q")
		var pubErr bytes.Buffer
		pub.Stderr = &pubErr
		if err := pub.Start(); err != nil {
			t.Fatalf("starting the host publisher: %v", err)
		}
		defer func() { pub.Process.Kill(); pub.Wait() }()

		// The publisher needs a moment (ICE/DTLS with an emulated server)
		// before the room has video; a probe before that fails "no
		// publisher", so try until one decodes a frame.
		var last string
		for {
			out, err := exec.CommandContext(ctx, host, "probe", "--url", "http://"+base+"/whep/"+room,
				"--timeout", "30s", "--observe", "0", "-q", "-o", "json").Output()
			var rep struct {
				OK   int `json:"ok"`
				Runs []struct {
					Phases map[string]float64 `json:"phases_ms"`
					Codec  string             `json:"codec"`
					Width  int                `json:"width"`
					Error  string             `json:"error"`
				} `json:"runs"`
			}
			if jerr := json.Unmarshal(out, &rep); jerr == nil && rep.OK == 1 && len(rep.Runs) == 1 {
				r := rep.Runs[0]
				if _, decoded := r.Phases["first_decoded"]; !decoded {
					t.Fatalf("the probe got a frame but did not decode it: %s", out)
				}
				t.Logf("probe through the arm64 server: %s %dpx wide, phases %v", r.Codec, r.Width, r.Phases)
				break
			}
			last = fmt.Sprintf("%v: %s%s", errText(err), out, pubErr.String())
			if ctx.Err() != nil {
				t.Fatalf("no probe decoded a frame through the arm64 server; last attempt: %s\nserve stderr:\n%s", last, serveErr.String())
			}
			time.Sleep(time.Second)
		}

		// serve drains on SIGTERM and exits 0 once the clients are gone.
		pub.Process.Kill()
		pub.Wait()
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("serve under qemu exited with %v after SIGTERM; stderr:\n%s", err, serveErr.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("serve under qemu did not exit within a minute of SIGTERM; stderr:\n%s", serveErr.String())
		}
	})
}

// findQEMU returns qemu-user's aarch64 emulator, or skips (fails with
// LIVECTL_REQUIRE_QEMU=1) when it is not installed.
func findQEMU(t *testing.T) string {
	for _, name := range []string{"qemu-aarch64", "qemu-aarch64-static"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "qemu-aarch64 is not installed (Debian: apt-get install qemu-user); the arm64 binary cannot run here"
	if os.Getenv("LIVECTL_REQUIRE_QEMU") == "1" {
		t.Fatal(msg + " and LIVECTL_REQUIRE_QEMU=1 requires it")
	}
	t.Skip(msg)
	return ""
}

// binary returns the path in env, or builds livectl for goarch ("" for
// this machine's) into the test's temporary directory.
func binary(t *testing.T, env, goarch string) string {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		return p
	}
	out := filepath.Join(t.TempDir(), "livectl-"+goarch)
	cmd := exec.Command("go", "build", "-o", out, "github.com/livectl/livectl/cmd/livectl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if goarch != "" {
		cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH="+goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building livectl (GOARCH=%q; or set %s): %v\n%s", goarch, env, err, b)
	}
	return out
}

// waitHealthy waits for url to answer 200, failing early if serve exits.
func waitHealthy(t *testing.T, ctx context.Context, url string, served <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-served:
			t.Fatalf("serve under qemu exited before it was healthy: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("serve under qemu was not healthy in time; stderr:\n%s", stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// errText includes a failed command's stderr in its error.
func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(fmt.Sprintf("%v: %s", err, ee.Stderr))
	}
	return fmt.Sprint(err)
}
