//go:build browser

package probe_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/livectl/livectl/internal/browsertest"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

// TestProbeAgreesWithChromium compares the probe's first_decoded with the
// time to first rendered frame that headless Chromium measures on the demo
// page (WHEP, requestVideoFrameCallback's presentationTime), against the
// same server and the same publisher (livectl publish, built-in clip, over
// WHIP). Browser and probe attempts alternate so that both see the same
// server and publisher state. Both medians of 10 attempts are logged, whole
// attempt and connected -> first frame; docs/probe.md has the figures.
//
//	go test -tags browser -run TestProbeAgreesWithChromium -v ./internal/probe
func TestProbeAgreesWithChromium(t *testing.T) {
	bctx := browsertest.Launch(t)
	hs := servertest.Start(t, server.Config{})
	ctx := context.Background()
	pub, err := publish.Start(ctx, publish.Options{URL: hs.HTTP + "/whip/cmp"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	// One viewer page, loaded once; each browser attempt calls the page's
	// watch() again: a new RTCPeerConnection and WHEP session, timed by the
	// page from the start of watch() to the first requestVideoFrameCallback.
	// The probe is a warm process too (its code loaded, its runtime up), so
	// both sides pay for one attempt's work and neither for start-up: on a
	// fresh page the first three watch() calls take ~500-670, ~70-110 and
	// ~70-105 ms on this machine, and from the fourth on ~45-65 ms (three
	// runs of 16 calls), so three warm-up calls are not counted. The probe
	// gets one warm-up attempt too, though its first is not slower.
	tab, cancelTab := chromedp.NewContext(bctx)
	defer cancelTab()
	if err := chromedp.Do(tab, chromedp.Navigate(hs.HTTP+"/?room=cmp")); err != nil {
		t.Fatalf("loading the viewer page: %v", err)
	}
	// chromedp enables DevTools domains that report every request and DOM
	// change back to the test; a viewer's browser has no debugger
	// attached. Only Runtime (for Evaluate) stays on while attempts run.
	for _, off := range []cdp.Command[cdp.Empty, cdp.Empty]{network.Disable, css.Disable, dom.Disable, cdplog.Disable} {
		if _, err := chromedp.Call(tab, off, cdp.Empty{}); err != nil {
			t.Fatalf("%s: %v", off.Method, err)
		}
	}
	type pageAttempt struct {
		First   float64  `json:"first"`   // firstFrameMs
		Started float64  `json:"started"` // watch()'s start on the page clock
		Log     []string `json:"log"`
	}
	browserAttempt := func(i int) pageAttempt {
		t.Helper()
		// The page settles livectl.firstFrame when the attempt renders its
		// first frame; awaiting it (rather than polling) keeps DevTools
		// traffic off the renderer while the attempt is timed.
		actx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		a, err := chromedp.Run(actx, chromedp.Evaluate[pageAttempt](`watch(); window.livectl.firstFrame.then((first) =>
			({first, started: window.livectl.watchStartedAt, log: window.livectl.log.slice(-12)}))`, chromedp.EvalAwaitPromise))
		if err != nil {
			log, _ := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.livectl.log`))
			t.Fatalf("attempt %d: Chromium rendered no frame within 10s: %v; page log: %v", i, err, log)
		}
		// Tear the session down now, as the probe does at the end of its
		// attempt, not at the start of the next timed one.
		if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`stopSession("sub").then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("attempt %d: stopping the page's session: %v", i, err)
		}
		return a
	}
	// Pauses between attempts keep each outside the relay's PLI throttle.
	// Their random part starts attempts at random phases of the publisher's
	// frame clock: with a fixed 600 ms (18 frames at 30 fps) every browser
	// attempt would wait the same part of a frame for its keyframe, and a
	// median of 10 would be off by up to a frame interval.
	pause := func() { time.Sleep(600*time.Millisecond + rand.N(34*time.Millisecond)) }
	for range 3 { // warm-up, see above
		browserAttempt(-1)
		pause()
	}
	if r := probe.Attempt(ctx, probe.Options{URL: hs.HTTP + "/whep/cmp", Timeout: 10 * time.Second}); !r.OK() {
		t.Fatalf("warm-up probe attempt: %s", r.Error)
	}
	pause()

	const n = 10
	var browser, probed, browserTail, probedTail []float64
	for i := range n {
		a := browserAttempt(i)
		if testing.Verbose() {
			for _, l := range a.Log {
				t.Logf("  page: %s", l)
			}
		}
		connected := pageTime(a.Log, "watch: connected")
		if connected < 0 {
			t.Fatalf("attempt %d: page log lacks the connected line: %v", i, a.Log)
		}
		browser = append(browser, a.First)
		browserTail = append(browserTail, max(a.First-(connected-a.Started), 0))
		pause()

		// One probe attempt.
		r := probe.Attempt(ctx, probe.Options{URL: hs.HTTP + "/whep/cmp", Timeout: 10 * time.Second})
		if !r.OK() {
			t.Fatalf("attempt %d: probe: %s", i, r.Error)
		}
		probed = append(probed, r.PhasesMS[probe.PhaseFirstDecoded])
		probedTail = append(probedTail, r.PhasesMS[probe.PhaseFirstDecoded]-r.PhasesMS[probe.PhaseDTLSConnected])
		t.Logf("  probe: %v", r.PhasesMS)
		pause()
	}
	mb, mp := median(browser), median(probed)
	tb, tp := median(browserTail), median(probedTail)
	t.Logf("Chromium first rendered frame (ms): %.1f", browser)
	t.Logf("probe first_decoded (ms):          %.1f", probed)
	t.Logf("whole attempt, medians: Chromium %.1f ms, probe %.1f ms, difference %.1f ms", mb, mp, mp-mb)
	t.Logf("connected -> first frame, medians: Chromium %.1f ms, probe %.1f ms, difference %.1f ms", tb, tp, tp-tb)
	// The media path, from connected to the first frame, is where both
	// measure the same thing: it must agree within 30 ms. The whole attempt
	// also contains Chromium's own set-up (its WebRTC calls and the WHEP
	// fetch from JavaScript take ~45 ms here against the probe's ~6 ms, see
	// docs/probe.md); on this 2-core machine the medians differ by 17-48 ms
	// from run to run, so the 30 ms is logged above, not asserted,
	// and 60 ms guards against regressions such as the relay's old wildcard
	// socket, which put half of Chromium's attempts 50 ms later.
	if math.Abs(tp-tb) > 30 {
		t.Errorf("connected -> first frame: probe median %.1f ms and Chromium median %.1f ms differ by more than 30 ms", tp, tb)
	}
	if math.Abs(mp-mb) > 60 {
		t.Errorf("whole attempt: probe median %.1f ms and Chromium median %.1f ms differ by more than 60 ms", mp, mb)
	}
}

// pageTime returns the page-clock time (ms) of the last log line of the
// demo page containing what ("… +123ms watch: connected"), or -1.
func pageTime(log []string, what string) float64 {
	for i := len(log) - 1; i >= 0; i-- {
		l := log[i]
		if !strings.Contains(l, what) {
			continue
		}
		j := strings.Index(l, " +")
		k := strings.Index(l, "ms ")
		if j < 0 || k < j {
			return -1
		}
		v, err := strconv.ParseFloat(l[j+2:k], 64)
		if err != nil {
			return -1
		}
		return v
	}
	return -1
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
