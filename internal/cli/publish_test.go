package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/publish"
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

// TestPublishStatusLine: on a terminal, publish redraws one status line
// (connected, bitrate, keyframes, PLIs answered); with --duration it does
// not say "Ctrl-C to stop"; in a pipe there is no status line.
func TestPublishStatusLine(t *testing.T) {
	hs := servertest.Start(t, server.Config{})
	for _, tty := range []bool{true, false} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			var out, errOut bytes.Buffer
			f := NewFactory()
			f.IO = &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, ErrTTY: tty}
			f.LookupEnv = func(string) (string, bool) { return "", false }
			code := Run(context.Background(), f, []string{"publish", "--url", hs.WS, "--room", "status", "--duration", "2500ms"})
			stderr := errOut.String()
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.Contains(stderr, "Ctrl-C") || !strings.Contains(stderr, "for 2.5s") {
				t.Errorf("with --duration the first line should say how long, not Ctrl-C: %q", stderr)
			}
			redrawn := regexp.MustCompile(`\r\x1b\[K\[ *\d+s\] connected  [0-9.]+ [kM]b/s  keyframes [1-9]\d*  PLIs answered \d+/\d+`)
			if tty && !redrawn.MatchString(stderr) {
				t.Errorf("no live status line with a bitrate and keyframes sent on a terminal: %q", stderr)
			}
			if !tty && strings.Contains(stderr, "keyframes") {
				t.Errorf("a status line in a pipe: %q", stderr)
			}
		})
	}
}

func TestPublishStatusText(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name    string
		stats   publish.Stats
		after   time.Duration
		stopped bool
		want    string
	}{
		{"first second", publish.Stats{BytesSent: 125_000, KeyframesSent: 1}, time.Second, false,
			"connected  1.0 Mb/s  keyframes 1  PLIs answered 0/0"},
		{"PLIs and FIRs answered", publish.Stats{BytesSent: 250_000, KeyframesSent: 4, KeyframesOnPLI: 2, PLIs: 2, FIRs: 1}, 2 * time.Second, false,
			"connected  1.0 Mb/s  keyframes 4  PLIs answered 2/3"},
		{"stopped", publish.Stats{BytesSent: 0}, time.Second, true,
			"stopped  0 b/s  keyframes 0  PLIs answered 0/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			if tt.stopped {
				close(done)
			}
			var cur publish.Stats
			s := newPublishStatus(func() publish.Stats { return cur }, done, start)
			cur = tt.stats
			if got := s.at(start.Add(tt.after)).Text; got != tt.want {
				t.Errorf("status %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPublishUnknownFormatIsUsage: a --file publish cannot send is exit 2
// naming the flag, before anything connects.
func TestPublishUnknownFormatIsUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("not media\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "publish", "--url", "ws://127.0.0.1:1/ws", "--room", "x", "--file", path)
	if code != ExitUsage || !strings.Contains(stderr, "--file") || !strings.Contains(stderr, "unknown format") {
		t.Errorf("exit %d, stderr %q; want exit 2 naming --file and the unknown format", code, stderr)
	}
}

// TestPublishSeveralURLs: several --url are for --retry; without it they
// are a usage error naming both flags, and each URL is checked.
func TestPublishSeveralURLs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--url", "http://127.0.0.1:1/whip/x,http://127.0.0.1:2/whip/x"}, []string{"--url", "--retry"}},
		{[]string{"--retry", "--url", "http://127.0.0.1:1/whip/x", "--url", "ftp://h/x"}, []string{"--url", `"ftp://h/x"`}},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"publish"}, tc.args...)...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want usage; stderr %q", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q does not name %s", tc.args, stderr, w)
			}
		}
	}
}
