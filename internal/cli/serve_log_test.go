package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server/servertest"
	"github.com/livectl/livectl/internal/syncio"
)

// TestServeJSONLogs: with --log-format json every line serve writes on
// stderr is a JSON object, the banner included, and a session's life is
// there: /ws opened and closed, joined and left (debug), publish and
// subscribe start and end with room, identity, transport, remote address,
// duration, bytes and packets (info). A usage error is a JSON line too.
func TestServeJSONLogs(t *testing.T) {
	addr := servertest.FreePort(t, "tcp")
	t.Cleanup(func() { ownSignals.Store(false) }) // serve took over SIGINT/SIGTERM
	var errOut syncio.Buffer
	f := NewFactory()
	f.IO = &IOStreams{In: strings.NewReader(""), Out: &strings.Builder{}, ErrOut: &errOut}
	f.LookupEnv = func(string) (string, bool) { return "", false }
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, f, []string{"--log-format", "json", "--log-level", "debug", "serve", "--dev",
			"--listen", addr, "--admin-listen", "", "--udp-port", "0", "--drain-timeout", "2s"})
	}()
	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("serve did not come up:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := publish.Start(pctx, publish.Options{URL: "ws://" + addr + "/ws", Room: "logs", Identity: "cam"})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	if r := probe.Attempt(pctx, probe.Options{URL: base + "/whep/logs", Timeout: 10 * time.Second}); !r.OK() {
		t.Errorf("probe: %s", r.Error)
	}
	time.Sleep(300 * time.Millisecond) // let the WHEP session's end be logged
	pub.Close()
	stop()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d", code)
	}

	type line map[string]any
	var lines []line
	for i, l := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
		var m line
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stderr line %d is not JSON: %q (%v)", i+1, l, err)
		}
		lines = append(lines, m)
	}
	find := func(msg string, match func(line) bool) line {
		t.Helper()
		for _, l := range lines {
			if l["msg"] == msg && (match == nil || match(l)) {
				return l
			}
		}
		t.Errorf("no %q line in:\n%s", msg, errOut.String())
		return nil
	}
	if l := find("serving", nil); l != nil && !strings.HasPrefix(l["signaling"].(string), "ws://") {
		t.Errorf("banner line %v", l)
	}
	find("session opened", nil)
	find("session closed", nil)
	find("joined", func(l line) bool { return l["room"] == "logs" && l["identity"] == "cam" })
	find("left", func(l line) bool { return l["room"] == "logs" })
	find("publish started", func(l line) bool { return l["transport"] == "ws" && l["identity"] == "cam" && l["remote"] != "" })
	find("subscribe started", func(l line) bool { return l["transport"] == "whep" && l["room"] == "logs" })
	for _, what := range []string{"publish ended", "subscribe ended"} {
		if l := find(what, nil); l != nil {
			if b, _ := l["bytes"].(float64); b <= 0 || l["packets"].(float64) <= 0 || l["duration"] == "" {
				t.Errorf("%s without bytes, packets and duration: %v", what, l)
			}
		}
	}

	// A usage error is one JSON line too.
	var usage syncio.Buffer
	g := NewFactory()
	g.IO = &IOStreams{In: strings.NewReader(""), Out: &strings.Builder{}, ErrOut: &usage}
	g.LookupEnv = func(string) (string, bool) { return "", false }
	if code := Run(context.Background(), g, []string{"--log-format", "json", "serve", "--listen", "127.0.0.1:0"}); code != ExitUsage {
		t.Errorf("serve without a secret: exit %d", code)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(usage.String())), &m); err != nil || m["exit"] != float64(2) || !strings.Contains(m["msg"].(string), "--auth-secret") {
		t.Errorf("usage error on stderr %q is not one JSON line with exit 2 (%v)", usage.String(), err)
	}
}
