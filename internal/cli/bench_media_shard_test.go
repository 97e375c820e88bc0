package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/livectl/livectl/internal/bench/mediabench"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

// Three --shard i/3 media runs started together (--start-at) against one
// loopback serve, merged by bench report, count exactly what one run of
// all their subscribers counts: subscribers, and every histogram's
// values (first frame, each phase). Two of the three merge too, saying
// which shard is missing. The room's publisher is the test's own, so
// that every run finds media there whenever its subscribers arrive.
func TestBenchMediaShardsMergeToOneRun(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := publish.Start(ctx, publish.Options{URL: srv.WS, Room: "shards", Identity: "test-publisher"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	common := []string{"bench", "media", "--url", srv.WS, "--room", "shards", "--subscribers", "6", "--rate", "50",
		"--duration", "500ms", "--server-stats", "none", "--quiet"}
	var merged, whole mediabench.Report
	files := runShardsAndWhole(t, common, &merged, &whole)
	if merged.Subscribers != whole.Subscribers || merged.Subscribers.OK != 6 || merged.Runs != 3 {
		t.Errorf("merged shards: %+v (%d runs); one run: %+v", merged.Subscribers, merged.Runs, whole.Subscribers)
	}
	if merged.Settings.Subscribers != 6 || merged.Settings.Rate != whole.Settings.Rate {
		t.Errorf("merged settings %+v, one run's %+v", merged.Settings, whole.Settings)
	}
	if m, w := merged.FirstFrameMS.Count, whole.FirstFrameMS.Count; m != w || m != 6 {
		t.Errorf("first frame: merged shards count %d values, one run %d, want 6", m, w)
	}
	for name, w := range whole.PhasesMS {
		if m := merged.PhasesMS[name]; m.Count != w.Count {
			t.Errorf("phase %s: merged shards count %d values, one run %d", name, m.Count, w.Count)
		}
	}
	// The shards' time series merge on the wall clock: every start and
	// first frame of the three in some second, and the bytes received.
	var att, firsts, bytes int64
	if merged.Series != nil {
		for _, p := range merged.Series.Points {
			att += p.Attempts
			firsts += p.Latency[mediabench.SeriesFirstFrame].Summary.Count
			bytes += p.Counts[mediabench.CountBytes]
		}
	}
	if att != 6 || firsts != 6 || bytes <= 0 {
		t.Errorf("merged series: %d starts, %d first frames, %d bytes; want 6, 6 and some", att, firsts, bytes)
	}
	if c := merged.Context; c == nil || c.Settings["shard"] != nil || c.Settings["subscribers"] != float64(6) {
		t.Errorf("merged context settings %v", merged.Context)
	}
	// Two shard files merge, and the one left out is named.
	code, _, stderr := runCLI(t, nil, "bench", "report", files[0], files[2])
	if code != ExitOK || !strings.Contains(stderr, "shard 1/3 is missing") {
		t.Errorf("two of three shards: exit %d, stderr:\n%s", code, stderr)
	}
}
