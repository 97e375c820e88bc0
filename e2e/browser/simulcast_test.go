package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/livectl/livectl/internal/browsertest"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
	"github.com/livectl/livectl/internal/stats"
)

// frameSize is one entry of window.livectl.sizes: the viewer's rendered
// frames changed to width x height atMs after its watch() started.
type frameSize struct {
	AtMs   float64 `json:"atMs"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
}

// freeze is one entry of window.livectl.freezes: ms without a new frame.
type freeze struct {
	AtMs float64 `json:"atMs"`
	Ms   float64 `json:"ms"`
}

// viewerState is what the simulcast test reads from the viewer's page.
type viewerState struct {
	Now     float64     `json:"now"` // ms since the watch started
	Frames  int         `json:"frames"`
	Sizes   []frameSize `json:"sizes"`
	Freezes []freeze    `json:"freezes"`
	Errors  []string    `json:"errors"`
	Log     []string    `json:"log"`
}

func readViewer(ctx context.Context) (viewerState, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[viewerState](`({
		now: performance.now() - livectl.watchStartedAt, frames: livectl.framesRendered,
		sizes: livectl.sizes, freezes: livectl.freezes, errors: livectl.errors, log: livectl.log})`))
}

func (v viewerState) size() frameSize {
	if len(v.Sizes) == 0 {
		return frameSize{}
	}
	return v.Sizes[len(v.Sizes)-1]
}

// waitViewer polls the viewer's page until cond holds or d passes.
func waitViewer(ctx context.Context, d time.Duration, cond func(viewerState) bool) (viewerState, bool) {
	deadline := time.Now().Add(d)
	var v viewerState
	for time.Now().Before(deadline) {
		var err error
		if v, err = readViewer(ctx); err == nil && (cond(v) || len(v.Errors) > 0) {
			return v, len(v.Errors) == 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	return v, false
}

// roomStats reads the server's /v1/stats and the room's entry in it.
func roomStats(base, room string) (stats.Snapshot, stats.Room, error) {
	var snap stats.Snapshot
	resp, err := http.Get(base + "/v1/stats")
	if err != nil {
		return snap, stats.Room{}, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return snap, stats.Room{}, err
	}
	for _, r := range snap.Rooms {
		if r.Name == room {
			return snap, r, nil
		}
	}
	return snap, stats.Room{}, fmt.Errorf("room %q not in /v1/stats", room)
}

// publishSimulcast opens the demo page in a new tab of browser, publishing
// the camera to room as three simulcast layers (?simulcast=1), and waits
// until the server at base receives all three: with no viewer yet, the
// room's /v1/stats counts three unused layers. It returns the tab.
func publishSimulcast(t *testing.T, browser context.Context, base, room string) context.Context {
	t.Helper()
	pubCtx, cancelPub := chromedp.NewContext(browser)
	t.Cleanup(cancelPub)
	if err := chromedp.Do(pubCtx, chromedp.Navigate(base+"/?room="+room+"&publish=1&simulcast=1")); err != nil {
		t.Fatalf("loading the demo page: %v", err)
	}
	if st, ok := waitState(pubCtx, 20*time.Second, func(s pageState) bool { return s.Publishing || len(s.Errors) > 0 }); !ok || len(st.Errors) > 0 {
		t.Fatalf("the browser did not publish through WHIP: errors %v, page log:\n%v", st.Errors, st.Log)
	}
	var rs stats.Room
	// Chromium turns the f layer on once its estimate of the path to the
	// server has grown past what the three layers need: seconds, more on
	// a loaded machine.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		_, rs, err = roomStats(base, room)
		if err == nil && rs.Simulcast != nil && rs.Simulcast.UnusedLayers == 3 {
			break
		}
		if time.Now().After(deadline) {
			layers, lerr := sentLayers(pubCtx, time.Second)
			t.Fatalf("the server did not receive three simulcast layers from Chromium within 30s: room %+v simulcast %+v (%v); Chromium sends %+v (%v)",
				rs, rs.Simulcast, err, layers, lerr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the server receives %d layers from Chromium", rs.Simulcast.UnusedLayers)
	if layers, err := sentLayers(pubCtx, 2*time.Second); err == nil {
		t.Logf("Chromium sends %+v", layers)
	}
	return pubCtx
}

// sentLayer is what the publisher's page sends of one simulcast layer, from
// its peer connection's outbound-rtp statistics.
type sentLayer struct {
	RID    string  `json:"rid"`
	Kbps   float64 `json:"kbps"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Reason string  `json:"reason"` // qualityLimitationReason: cpu, bandwidth, none
}

// sentLayers measures the publisher tab's video layers over d.
func sentLayers(ctx context.Context, d time.Duration) ([]sentLayer, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]sentLayer](fmt.Sprintf(`(async () => {
		const read = async () => {
			const m = new Map();
			(await sessions.pub.pc.getStats()).forEach((r) => {
				if (r.type === "outbound-rtp" && r.kind === "video") m.set(r.rid || "", r);
			});
			return m;
		};
		const a = await read();
		await new Promise((ok) => setTimeout(ok, %d));
		const b = await read();
		return [...b.values()].map((r) => ({
			rid: r.rid || "", width: r.frameWidth || 0, height: r.frameHeight || 0,
			reason: r.qualityLimitationReason || "",
			kbps: a.has(r.rid || "") ? 8 * (r.bytesSent - a.get(r.rid || "").bytesSent) / (r.timestamp - a.get(r.rid || "").timestamp) : 0,
		})).sort((x, y) => x.width - y.width);
	})()`, d.Milliseconds()), chromedp.EvalAwaitPromise))
}

// watchRoom opens the demo page at base+path in a new tab next to tab.
func watchRoom(t *testing.T, tab context.Context, base, path string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tab)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+path)); err != nil {
		t.Fatalf("loading the viewer page %s: %v", path, err)
	}
	return ctx
}

// TestBrowserSimulcastLayerCap: viewers of Chromium's simulcast that ask
// the demo page for a layer (layer=q, layer=h: WHEP ?layer=) render that
// layer's size, one of them the quarter and the other the half of the
// camera's 1280x720. This is the viewer's cap, not the path's adaptation
// (TestSimulcastConstrainedPathChromium); it needs no root.
func TestBrowserSimulcastLayerCap(t *testing.T) {
	hs := servertest.Start(t, server.Config{})
	browser := browsertest.Launch(t)
	const room = "layers"
	pubCtx := publishSimulcast(t, browser, hs.HTTP, room)
	for _, c := range []struct {
		layer         string
		width, height int
	}{{"q", 320, 180}, {"h", 640, 360}} {
		ctx := watchRoom(t, pubCtx, hs.HTTP, "/?room="+room+"&watch=1&layer="+c.layer)
		v, ok := waitViewer(ctx, 20*time.Second, func(v viewerState) bool { return v.Frames >= 10 })
		if !ok || len(v.Sizes) != 1 || v.size().Width != c.width || v.size().Height != c.height {
			t.Errorf("the viewer asking for %s rendered sizes %+v (frames %d, errors %v), want only %dx%d; page log:\n%s",
				c.layer, v.Sizes, v.Frames, v.Errors, c.width, c.height, strings.Join(v.Log, "\n"))
		}
	}
	if _, rs, err := roomStats(hs.HTTP, room); err != nil || rs.Simulcast == nil || rs.Simulcast.ViewersPerLayer["q"] != 1 || rs.Simulcast.ViewersPerLayer["h"] != 1 {
		t.Errorf("/v1/stats: room %+v, simulcast %+v (%v); want one viewer on q and one on h", rs, rs.Simulcast, err)
	}
}
