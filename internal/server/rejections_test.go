package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/syncio"
)

// TestRejectedTokensCounted: each refused join moves
// livectl_rejected_total for its reason, and is logged with the client's
// address; a flood of refusals logs a few lines, not one per refusal.
func TestRejectedTokensCounted(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	var logs syncio.Buffer
	ts := newTestServer(t, Config{AuthSecret: secret, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	admin := httptest.NewServer(ts.AdminHandler())
	defer admin.Close()
	mint := func(g auth.Grant, ttl time.Duration, at time.Time) string {
		tok, err := auth.Mint(secret, g, ttl, at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := auth.Mint([]byte(strings.Repeat("x", 32)), auth.Grant{Room: "r", Identity: "a"}, time.Minute, time.Now())
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"no token", "", "unauthorized"},
		{"another server's token", other, "unauthorized"},
		{"garbage", "not.a.jwt", "unauthorized"},
		{"expired", mint(auth.Grant{Room: "r", Identity: "a"}, time.Minute, time.Now().Add(-time.Hour)), "expired"},
		{"another room", mint(auth.Grant{Room: "elsewhere", Identity: "a"}, time.Minute, time.Now()), "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rejected(t, admin.URL, tc.reason)
			c := dial(t, ts.wsURL, nil)
			defer c.Close()
			_, err := c.Join(ctxT(t), "r", "a", tc.token)
			var se *signal.Error
			if err == nil || !errors.As(err, &se) {
				t.Fatalf("join with %s: %v, want a refusal", tc.name, err)
			}
			if got := rejected(t, admin.URL, tc.reason); got != before+1 {
				t.Errorf("livectl_rejected_total{reason=%q} went %v -> %v, want +1", tc.reason, before, got)
			}
		})
	}
	if !regexp.MustCompile(`msg="token refused" reason=expired remote=127\.0\.0\.1:\d+ room=r`).MatchString(logs.String()) {
		t.Errorf("no log line for the expired token with the remote address:\n%s", logs.String())
	}

	// A client retrying a bad token in a loop: counted every time, logged
	// a few times.
	linesBefore := strings.Count(logs.String(), "token refused")
	before := rejected(t, admin.URL, "unauthorized")
	const n = 40
	for range n { // a connection each: one would meet its request rate limit
		c := dial(t, ts.wsURL, nil)
		if _, err := c.Join(context.Background(), "r", "a", "bad"); err == nil {
			t.Fatal("a bad token was accepted")
		}
		c.Close()
	}
	if got := rejected(t, admin.URL, "unauthorized"); got != before+n {
		t.Errorf("rejected_total{unauthorized} went %v -> %v, want +%d", before, got, n)
	}
	if lines := strings.Count(logs.String(), "token refused") - linesBefore; lines > rejectLogBurst+2 {
		t.Errorf("%d refusals logged %d lines, want at most about %d", n, lines, rejectLogBurst)
	}
}

// rejected reads livectl_rejected_total{reason} from /metrics at base.
func rejected(t *testing.T, base, reason string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^livectl_rejected_total\{reason="` + reason + `"\} (\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no livectl_rejected_total{reason=%q} in /metrics:\n%s", reason, bytes.TrimSpace(b))
	}
	var v float64
	for _, d := range m[1] {
		v = v*10 + float64(d-'0')
	}
	return v
}

// TestInSessionRefusalsCounted: what a joined session's token does not
// grant (publish without the grant, media after the token expired) is
// counted and logged like a refusal at join.
func TestInSessionRefusalsCounted(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	var logs syncio.Buffer
	ts := newTestServer(t, Config{MediaPlane: &fakeMedia{}, AuthSecret: secret, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	admin := httptest.NewServer(ts.AdminHandler())
	defer admin.Close()
	// Valid for about a second more, with the leeway (JWT expiry is in
	// whole seconds).
	tok, err := auth.Mint(secret, auth.Grant{Room: "r", Identity: "sub", Subscribe: true}, time.Minute, time.Now().Add(-time.Minute-auth.Leeway+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, ts.wsURL, nil)
	defer c.Close()
	if _, err := c.Join(ctxT(t), "r", "sub", tok); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name, msgType, reason, code string
		wait                        time.Duration
	}{
		{"publish without the grant", signal.TypePublish, "forbidden", signal.CodeForbidden, 0},
		{"subscribe after expiry", signal.TypeSubscribe, "expired", signal.CodeUnauthorized, 2100 * time.Millisecond},
	} {
		time.Sleep(step.wait)
		before := rejected(t, admin.URL, step.reason)
		_, err := c.Call(ctxT(t), &signal.Message{Type: step.msgType, SDP: "x"})
		if !errors.Is(err, &signal.Error{Code: step.code}) {
			t.Fatalf("%s: %v, want %s", step.name, err, step.code)
		}
		if got := rejected(t, admin.URL, step.reason); got != before+1 {
			t.Errorf("%s: livectl_rejected_total{reason=%q} went %v -> %v, want +1", step.name, step.reason, before, got)
		}
	}
	if !regexp.MustCompile(`msg="token refused" reason=expired remote=127\.0\.0\.1:\d+ room=r`).MatchString(logs.String()) {
		t.Errorf("no log line for the expired token with the remote address and room:\n%s", logs.String())
	}
}
