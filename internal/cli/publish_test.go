package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

// TestPublishErrorsSayWhatToTry: a missing --file is a usage error naming
// the flag (it was exit 1 with a bare "open …" error), and an unreachable
// server gets a hint.
func TestPublishErrorsSayWhatToTry(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "publish", "--url", "http://127.0.0.1:1/whip/x", "--file", "/no/such/clip.ivf")
	if code != ExitUsage || !strings.Contains(stderr, "--file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "publish", "--url", "http://127.0.0.1:1/whip/x", "--simulcast", "--file", "clip.ivf")
	if code != ExitUsage || !strings.Contains(stderr, "--simulcast") || !strings.Contains(stderr, "--file") {
		t.Errorf("simulcast with a file: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "publish", "--url", "ws://127.0.0.1:1/ws", "--room", "x", "--connect-timeout", "2s")
	if code != ExitFailure || !strings.Contains(stderr, "is the server running") {
		t.Errorf("refused: exit %d, stderr %q", code, stderr)
	}
}

// TestPublishKeyframeIntervalRange: a negative or huge --keyframe-interval
// is a usage error naming the flag.
func TestPublishKeyframeIntervalRange(t *testing.T) {
	for _, v := range []string{"-1s", "2h"} {
		code, _, stderr := runCLI(t, nil, "publish", "--url", "http://127.0.0.1:1/whip/x", "--keyframe-interval", v)
		if code != ExitUsage || !strings.Contains(stderr, "--keyframe-interval") {
			t.Errorf("--keyframe-interval %s: exit %d, stderr %q", v, code, stderr)
		}
	}
}

// TestPublishTakesRoomAndIdentityFromToken: with --token and no --room or
// --identity, a /ws publisher joins as the token says; it joined as
// publish-<random> and the server refused it.
func TestPublishTakesRoomAndIdentityFromToken(t *testing.T) {
	secret := strings.Repeat("k", 32)
	hs := servertest.Start(t, server.Config{AuthSecret: []byte(secret)})
	tok, err := auth.Mint([]byte(secret), auth.Grant{Room: "tok", Identity: "cam1", Publish: true}, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "publish", "--url", hs.WS, "--token", tok, "--duration", "300ms", "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestPublishUnauthorizedHint: a /ws join refused for want of a token says
// to give one, as a WHIP 401 does.
func TestPublishUnauthorizedHint(t *testing.T) {
	hs := servertest.Start(t, server.Config{AuthSecret: []byte(strings.Repeat("k", 32))})
	code, _, stderr := runCLI(t, nil, "publish", "--url", hs.WS, "--room", "r", "--duration", "300ms", "-q")
	if code != ExitFailure || !strings.Contains(stderr, "unauthorized") || !strings.Contains(stderr, "--token") {
		t.Errorf("exit %d, stderr %q; want exit 1, the server's reason and a --token hint", code, stderr)
	}
}

// TestBenchSignalUnauthorizedHint: a run refused for want of a token says
// to give one (it said to check that the server is up).
func TestBenchSignalUnauthorizedHint(t *testing.T) {
	hs := servertest.Start(t, server.Config{AuthSecret: []byte(strings.Repeat("k", 32))})
	code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", hs.WS, "--conns", "2", "--duration", "0s", "-q")
	if code != ExitFailure || !strings.Contains(stderr, "--token") {
		t.Errorf("exit %d, stderr %q; want exit 1 and a --token hint", code, stderr)
	}
}
