package probe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

// These tests run publish and probe against livectl's own server (signaling
// and SFU in process, loopback UDP), the way `livectl serve` runs.

func logPhases(t *testing.T, rep *probe.Report) {
	t.Helper()
	for i, r := range rep.Runs {
		t.Logf("  run %d: rtp %.1f key %.1f decoded %.1f plis %d after_pli %v pli_to_key %.1f", i, r.PhasesMS[probe.PhaseFirstRTP], r.PhasesMS[probe.PhaseFirstKeyframe], r.PhasesMS[probe.PhaseFirstDecoded], r.PLIsSent, r.KeyframeAfterPLI, r.PLIToKeyframeMS)
	}
	t.Logf("%d/%d ok; first_frame p50 %.1fms p95 %.1fms max %.1fms", rep.OK, rep.Attempts, rep.FirstFrameMS.P50, rep.FirstFrameMS.P95, rep.FirstFrameMS.Max)
	for _, p := range probe.Phases {
		s := rep.PhasesMS[p]
		t.Logf("  %-15s p50 %6.1fms  p95 %6.1fms  max %6.1fms", p, s.P50, s.P95, s.Max)
	}
}

func checkRuns(t *testing.T, rep *probe.Report, n int) {
	t.Helper()
	if rep.Attempts != n || rep.OK != n {
		for _, r := range rep.Runs {
			t.Logf("run: %+v", r)
		}
		t.Fatalf("%d of %d attempts ok", rep.OK, rep.Attempts)
	}
	for i, r := range rep.Runs {
		prev := 0.0
		for _, p := range probe.Phases {
			v, ok := r.PhasesMS[p]
			if !ok || v < prev {
				t.Fatalf("run %d: phase %s missing or out of order: %+v", i, p, r.PhasesMS)
			}
			prev = v
		}
		if r.Codec != "video/VP8" || r.Width != 640 || r.Height != 360 || r.Black {
			t.Fatalf("run %d: %+v", i, r)
		}
	}
}

func TestProbeServeWS(t *testing.T) {
	ws := servertest.Start(t, server.Config{}).WS
	ctx := context.Background()
	p, err := publish.Start(ctx, publish.Options{URL: ws, Room: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rep := probe.Run(ctx, probe.RunOptions{Options: probe.Options{URL: ws, Room: "r", Timeout: 5 * time.Second}, Count: 10, Interval: 600 * time.Millisecond})
	logPhases(t, rep)
	checkRuns(t, rep, 10)
}

func TestProbeServeWHEP(t *testing.T) {
	base := servertest.Start(t, server.Config{}).HTTP
	ctx := context.Background()
	p, err := publish.Start(ctx, publish.Options{URL: base + "/whip/w"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rep := probe.Run(ctx, probe.RunOptions{Options: probe.Options{URL: base + "/whep/w", Timeout: 5 * time.Second}, Count: 5, Interval: 600 * time.Millisecond})
	logPhases(t, rep)
	checkRuns(t, rep, 5)
}

// TestProbeServeAuth probes a server with auth on over /ws and WHEP with
// only its secret: each attempt mints its own token (subscribe grant).
func TestProbeServeAuth(t *testing.T) {
	secret := strings.Repeat("p", auth.MinSecretLen)
	srv := servertest.Start(t, server.Config{AuthSecret: []byte(secret)})
	ctx := context.Background()
	pubTok, err := auth.Mint([]byte(secret), auth.Grant{Room: "a", Identity: "pub", Publish: true}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := publish.Start(ctx, publish.Options{URL: srv.WS, Room: "a", Identity: "pub", Token: pubTok})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, o := range []probe.Options{{URL: srv.WS, Room: "a"}, {URL: srv.HTTP + "/whep/a"}} {
		t.Run(o.URL, func(t *testing.T) {
			o.Timeout = 5 * time.Second
			rep := probe.Run(ctx, probe.RunOptions{Options: o, Count: 2, Interval: 100 * time.Millisecond, Secret: secret})
			checkRuns(t, rep, 2)
			// Without the secret the same probe is refused.
			rep = probe.Run(ctx, probe.RunOptions{Options: o, Count: 1})
			if rep.OK != 0 {
				t.Fatalf("probe without a token got in: %+v", rep.Runs)
			}
		})
	}
}

// TestProbeRoundRobin probes two servers, each with its own publisher:
// attempts alternate between them, each run records the URL it used, and
// the report sums the attempts up per URL.
func TestProbeRoundRobin(t *testing.T) {
	ctx := context.Background()
	var urls []string
	for range 2 {
		base := servertest.Start(t, server.Config{}).HTTP
		p, err := publish.Start(ctx, publish.Options{URL: base + "/whip/rr"})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		urls = append(urls, base+"/whep/rr")
	}
	rep := probe.Run(ctx, probe.RunOptions{URLs: urls, Options: probe.Options{Timeout: 5 * time.Second}, Count: 5, Interval: 100 * time.Millisecond})
	logPhases(t, rep)
	checkRuns(t, rep, 5)
	for i, r := range rep.Runs {
		if r.URL != urls[i%2] {
			t.Errorf("run %d used %q, want %q", i, r.URL, urls[i%2])
		}
	}
	if rep.Target != urls[0]+","+urls[1] || len(rep.Targets) != 2 {
		t.Fatalf("target %q targets %+v, want both URLs", rep.Target, rep.Targets)
	}
	for i, want := range []int{3, 2} {
		if tg := rep.Targets[i]; tg.URL != urls[i] || tg.Attempts != want || tg.OK != want || tg.FirstFrameMS.Count != int64(want) {
			t.Errorf("target %d: %+v, want %d ok attempts at %s", i, tg, want, urls[i])
		}
	}
}
