package probe_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

// TestProbeCountOnly observes a live stream in CountOnly mode: every phase
// is measured, the first keyframe is decoded, and then frames arrive at
// the clip's 30 fps as counted frames without data.
func TestProbeCountOnly(t *testing.T) {
	ws := servertest.Start(t, server.Config{}).WS
	ctx := context.Background()
	p, err := publish.Start(ctx, publish.Options{URL: ws, Room: "c"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var mu sync.Mutex
	var frames, withData, keyframes int
	res := probe.Attempt(ctx, probe.Options{URL: ws, Room: "c", Timeout: 5 * time.Second, Observe: 2 * time.Second,
		NoImage: true, CountOnly: true,
		OnFrame: func(_ time.Time, f media.Frame) {
			mu.Lock()
			defer mu.Unlock()
			frames++
			if f.Data != nil {
				withData++
			}
			if f.Keyframe {
				keyframes++
			}
		}})
	rep := &probe.Report{Runs: []probe.Result{res}, Attempts: 1}
	if res.OK() {
		rep.OK = 1
	}
	checkRuns(t, rep, 1)
	mu.Lock()
	defer mu.Unlock()
	// The first keyframe comes assembled (with data); the rest are counted.
	if frames < 45 || withData != 1 || keyframes < 2 {
		t.Fatalf("OnFrame got %d frames (%d with data, %d keyframes) in 2s of a 30 fps stream with a keyframe each second", frames, withData, keyframes)
	}
	if res.Frames != frames || res.Frozen || res.MaxGapMS <= 0 {
		t.Fatalf("result: %d frames (OnFrame saw %d), frozen %v, max gap %.1fms", res.Frames, frames, res.Frozen, res.MaxGapMS)
	}
}
