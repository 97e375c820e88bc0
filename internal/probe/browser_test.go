//go:build browser

package probe_test

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/livectl/livectl/internal/browsertest"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

// TestProbeAgreesWithChromium compares the probe's first_decoded with the
// time to first rendered frame that headless Chromium measures on the demo
// page (?watch=1: WHEP, requestVideoFrameCallback), against the same server
// and the same publisher (livectl publish, built-in clip, over WHIP).
// Browser and probe attempts alternate so that both see the same server and
// publisher state. Both medians of 10 attempts are logged; the media path
// (connected -> first frame) must agree within 30 ms (see the end of the test
// and docs/probe.md for why the whole attempts do not).
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
	// both sides pay for one attempt's work and neither for start-up: page
	// load and the renderer's first WebRTC initialisation would otherwise
	// add ~50-100 ms to the browser's first attempt on this machine. One
	// warm-up watch() absorbs that initialisation and is not counted.
	tab, cancelTab := chromedp.NewContext(bctx)
	defer cancelTab()
	if err := chromedp.Do(tab, chromedp.Navigate(hs.HTTP+"/?room=cmp")); err != nil {
		t.Fatalf("loading the viewer page: %v", err)
	}
	browserAttempt := func(i int) (first float64, log []string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`watch(); true`)); err != nil {
			t.Fatalf("attempt %d: starting watch(): %v", i, err)
		}
		var v *float64
		deadline := time.Now().Add(10 * time.Second)
		for v == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			if got, err := chromedp.Run(tab, chromedp.Evaluate[*float64](`window.livectl.firstFrameMs ?? null`)); err == nil {
				v = got
			}
		}
		log, _ = chromedp.Run(tab, chromedp.Evaluate[[]string](`window.livectl.log`))
		if v == nil {
			t.Fatalf("attempt %d: Chromium rendered no frame within 10s; page log: %v", i, log)
		}
		return *v, log
	}
	browserAttempt(-1) // warm-up
	time.Sleep(600 * time.Millisecond)

	const n = 10
	var browser, probed, browserTail, probedTail []float64
	for i := range n {
		first, lg := browserAttempt(i)
		if testing.Verbose() {
			for _, l := range lg[max(len(lg)-8, 0):] {
				t.Logf("  page: %s", l)
			}
		}
		connected, rendered := pageTime(lg, "watch: connected"), pageTime(lg, "first frame rendered")
		browser = append(browser, first)
		if connected < 0 || rendered < 0 {
			t.Fatalf("attempt %d: page log lacks the connected/first-frame lines: %v", i, lg)
		}
		browserTail = append(browserTail, max(rendered-connected, 0))
		time.Sleep(600 * time.Millisecond) // outside the relay's PLI throttle, as between probe attempts

		// One probe attempt.
		r := probe.Attempt(ctx, probe.Options{URL: hs.HTTP + "/whep/cmp", Timeout: 10 * time.Second})
		if !r.OK() {
			t.Fatalf("attempt %d: probe: %s", i, r.Error)
		}
		probed = append(probed, r.PhasesMS[probe.PhaseFirstDecoded])
		probedTail = append(probedTail, r.PhasesMS[probe.PhaseFirstDecoded]-r.PhasesMS[probe.PhaseDTLSConnected])
		t.Logf("  probe: %v", r.PhasesMS)
		time.Sleep(600 * time.Millisecond)
	}
	mb, mp := median(browser), median(probed)
	tb, tp := median(browserTail), median(probedTail)
	t.Logf("Chromium first rendered frame (ms): %.1f", browser)
	t.Logf("probe first_decoded (ms):          %.1f", probed)
	t.Logf("whole attempt, medians: Chromium %.1f ms, probe %.1f ms, difference %.1f ms", mb, mp, mp-mb)
	t.Logf("connected -> first frame, medians: Chromium %.1f ms, probe %.1f ms, difference %.1f ms", tb, tp, tp-tb)
	// Whole attempts do not agree within 30 ms: warm Chromium spends ~60 ms
	// more than the probe before its peer connection is connected
	// (createOffer, the WHEP fetch from JS, the start of its ICE checks; see
	// docs/probe.md), which is the browser's own cost, not the server's or
	// the probe's. That gap is logged above, not asserted. The media path,
	// from connected to the first frame, is where both measure the same
	// thing, and there they must agree.
	if math.Abs(tp-tb) > 30 {
		t.Errorf("connected -> first frame: probe median %.1f ms and Chromium median %.1f ms differ by more than 30 ms", tp, tb)
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
