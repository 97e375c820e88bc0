package browser

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/livectl/livectl/internal/browsertest"
	"github.com/livectl/livectl/internal/cluster/redistest"
	"github.com/livectl/livectl/internal/server/servertest"
)

// TestBrowserClusterPublishRedirect: three `serve --cluster` processes on
// one redis-server. A Go publisher on A makes A the room's origin and
// leaves; within A's lease Chromium publishes from the demo page served by
// B, whose WHIP POST B answers 307 with A's WHIP URL. The page's fetch
// follows it with the offer and the session lives on A (B never has a
// publisher); a second page served by C plays the camera through C's
// upstream from A. It needs redis-server as well as Chromium and skips
// without either (CI fails on a skip).
func TestBrowserClusterPublishRedirect(t *testing.T) {
	browser := browsertest.Launch(t)
	rs := redistest.Start(t)
	bin := servertest.Binary(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	procs := rs.Nodes(t, ctx, bin, "a", "b", "c")
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	// metric reads one series of a node's /metrics (0 when absent).
	metric := func(id, series string) float64 {
		resp, err := hc.Get(procs[id].HTTP() + "/metrics")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, v, ok := strings.Cut(sc.Text(), " "); ok && name == series {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		return 0
	}
	eventually := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %v", what, d)
			}
		}
	}

	const room = "redirect"
	pubs := `livectl_room_media_publishers{room="` + room + `"}`
	// A becomes the origin: a Go publisher there, which leaves once
	// Chromium publishes (so that C's viewer gets the camera, the room's
	// only tracks then).
	goPub := exec.CommandContext(ctx, bin, "publish", "--url", procs["a"].HTTP()+"/whip/"+room, "--duration", "60s", "-q")
	if err := goPub.Start(); err != nil {
		t.Fatal(err)
	}
	goPubDone := make(chan error, 1)
	go func() { goPubDone <- goPub.Wait() }()
	t.Cleanup(func() { _ = goPub.Process.Kill(); <-goPubDone })
	eventually("A has the Go publisher", 10*time.Second, func() bool { return metric("a", pubs) == 1 })

	pubCtx, cancelPub := chromedp.NewContext(browser)
	defer cancelPub()
	pctx, cancelP := context.WithTimeout(pubCtx, 60*time.Second)
	defer cancelP()
	if err := chromedp.Do(pctx, chromedp.Navigate(procs["b"].HTTP()+"/?room="+room+"&publish=1")); err != nil {
		t.Fatalf("loading the demo page from B: %v", err)
	}
	st, ok := waitState(pctx, 20*time.Second, func(s pageState) bool { return s.Publishing || len(s.Errors) > 0 })
	if !ok || len(st.Errors) > 0 {
		t.Fatalf("Chromium did not publish through B: errors %v, page log:\n%s", st.Errors, strings.Join(st.Log, "\n"))
	}
	// The 307 was taken: the page's fetch ended on A's WHIP URL, A has the
	// publisher and B none.
	if want := procs["a"].HTTP() + "/whip/" + room; st.RedirectedTo != want {
		t.Errorf("the WHIP POST to B was redirected to %q, want A's %q; page log:\n%s", st.RedirectedTo, want, strings.Join(st.Log, "\n"))
	}
	// Its candidates were trickled to the session's Location on A (a
	// Location taken relative to the page would send them to B: 404).
	if log := strings.Join(st.Log, "\n"); strings.Contains(log, "trickle refused") || strings.Contains(log, "trickle failed") {
		t.Errorf("trickle after the redirect failed; page log:\n%s", log)
	}
	eventually("A has the browser's publisher beside the Go one", 5*time.Second, func() bool { return metric("a", pubs) == 2 })
	_ = goPub.Process.Signal(os.Interrupt)
	eventually("the Go publisher's session ends on A", 15*time.Second, func() bool { return metric("a", pubs) == 1 })
	if n := metric("b", pubs); n != 0 {
		t.Errorf("B has %v publishers in the room, want 0 (redirected)", n)
	}

	// A viewer page served by C plays the camera through C's upstream.
	viewCtx, cancelView := chromedp.NewContext(pubCtx)
	defer cancelView()
	vctx, cancelV := context.WithTimeout(viewCtx, 30*time.Second)
	defer cancelV()
	if err := chromedp.Do(vctx, chromedp.Navigate(procs["c"].HTTP()+"/?room="+room+"&watch=1")); err != nil {
		t.Fatalf("loading the viewer page from C: %v", err)
	}
	vst, ok := waitState(vctx, 20*time.Second, func(s pageState) bool { return s.FramesRendered >= 3 || len(s.Errors) > 0 })
	if !ok || len(vst.Errors) > 0 || vst.FirstFrameMs == nil {
		t.Fatalf("no frames rendered on C (frames %d, errors %v); page log:\n%s", vst.FramesRendered, vst.Errors, strings.Join(vst.Log, "\n"))
	}
	if up := metric("c", "livectl_cascade_upstreams"); up != 1 {
		t.Errorf("C has %v upstreams, want 1 (from A)", up)
	}
	t.Logf("Chromium published through B's 307 to A; C's viewer page rendered its first frame after %.0f ms", *vst.FirstFrameMs)

	// Stopping the page's publish ends its session on A: the DELETE went
	// to the origin's Location, not to B.
	if err := chromedp.Do(pctx, chromedp.Click(chromedp.ID("stop"))); err != nil {
		t.Fatal(err)
	}
	eventually("the DELETE ends the session on A", 5*time.Second, func() bool { return metric("a", pubs) == 0 })
}
