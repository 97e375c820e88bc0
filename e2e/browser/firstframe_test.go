package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/livectl/livectl/internal/browsertest"
)

// viewerJS is one fresh WHEP viewer in the page: it offers to receive
// audio and video, POSTs to the WHEP URL, and for observeMs records every
// frame the video element presents (requestVideoFrameCallback: when,
// its RTP timestamp and when its last packet arrived) and the receiver's
// video statistics every 100 ms, and when the peer connection connected
// (ICE and DTLS: a tail there is the machine's, not the relay's). Times
// are ms from the start of the POST.
const viewerJS = `(async (whep, observeMs) => {
	const out = {postMs: null, connectedMs: null, frames: [], stats: []};
	const pc = new RTCPeerConnection();
	pc.addTransceiver("video", {direction: "recvonly"});
	pc.addTransceiver("audio", {direction: "recvonly"});
	const video = document.createElement("video");
	video.muted = true; video.autoplay = true; video.playsInline = true;
	document.body.appendChild(video);
	const stream = new MediaStream();
	pc.ontrack = e => { stream.addTrack(e.track); video.srcObject = stream; };
	await pc.setLocalDescription(await pc.createOffer());
	await new Promise(done => {
		if (pc.iceGatheringState === "complete") return done();
		pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
		setTimeout(done, 2000);
	});
	const t0 = performance.now();
	const res = await fetch(whep, {method: "POST", headers: {"Content-Type": "application/sdp"}, body: pc.localDescription.sdp});
	if (!res.ok) throw new Error("WHEP POST: " + res.status + " " + await res.text());
	out.postMs = performance.now() - t0;
	pc.onconnectionstatechange = () => { if (pc.connectionState === "connected") out.connectedMs = performance.now() - t0; };
	await pc.setRemoteDescription({type: "answer", sdp: await res.text()});
	const onFrame = (now, md) => {
		out.frames.push({at: md.presentationTime - t0, recv: md.receiveTime === undefined ? null : md.receiveTime - t0, rtp: md.rtpTimestamp === undefined ? null : md.rtpTimestamp});
		video.requestVideoFrameCallback(onFrame);
	};
	video.requestVideoFrameCallback(onFrame);
	while (performance.now() - t0 < observeMs) {
		await new Promise(r => setTimeout(r, 100));
		const rep = await pc.getStats();
		rep.forEach(s => {
			if (s.type === "inbound-rtp" && s.kind === "video") {
				out.stats.push({at: performance.now() - t0, framesDecoded: s.framesDecoded || 0, freezeCount: s.freezeCount || 0,
					totalFreezesDuration: s.totalFreezesDuration || 0, jitterBufferDelay: s.jitterBufferDelay || 0,
					jitterBufferEmittedCount: s.jitterBufferEmittedCount || 0});
			}
		});
	}
	pc.close();
	video.remove();
	return out;
})`

type viewerFrame struct {
	At   float64  `json:"at"`   // presented, ms after the POST started
	Recv *float64 `json:"recv"` // its last packet arrived
	RTP  *float64 `json:"rtp"`
}

type viewerStat struct {
	At                       float64 `json:"at"`
	FramesDecoded            int     `json:"framesDecoded"`
	FreezeCount              int     `json:"freezeCount"`
	TotalFreezesDuration     float64 `json:"totalFreezesDuration"`
	JitterBufferDelay        float64 `json:"jitterBufferDelay"`
	JitterBufferEmittedCount int     `json:"jitterBufferEmittedCount"`
}

type viewerRun struct {
	PostMs      float64       `json:"postMs"`
	ConnectedMs *float64      `json:"connectedMs"`
	Frames      []viewerFrame `json:"frames"`
	Stats       []viewerStat  `json:"stats"`
}

// viewerResult is what one viewer showed.
type viewerResult struct {
	Offset       float64 `json:"offset_ms"`        // start after the first viewer's, modulo the GOP
	Connected    float64 `json:"connected_ms"`     // POST start to ICE and DTLS up (-1: never)
	FirstFrame   float64 `json:"first_frame_ms"`   // POST start to the first presented frame
	Live         float64 `json:"live_ms"`          // POST start to the frame from which every frame is within 150 ms of live (-1: never)
	MaxLag       float64 `json:"max_lag_ms"`       // the largest lag behind live of a presented frame
	Freezes      int     `json:"freezes"`          // getStats freezeCount at the end
	FreezeMs     float64 `json:"freeze_ms"`        // totalFreezesDuration
	StallMs      float64 `json:"stall_ms"`         // longest time framesDecoded did not move after the first frame
	JitterBuffer float64 `json:"jitter_buffer_ms"` // mean jitter buffer delay in the last second
	Frames       int     `json:"frames"`
}

// liveLag is how far behind live each presented frame is, in ms. Live is
// judged from the frames themselves: a frame's RTP time less its arrival
// is largest for the frames that arrived as they were sent (live ones),
// and smaller by their age for a catch-up's older frames. So the lag of a
// frame presented at P is (that largest value + P) - its RTP time: for a
// live frame, P less its arrival; for a catch-up frame, that plus its age.
// The relay's and the network's own delay (loopback: ~1 ms) is not in it.
func liveLag(frames []viewerFrame) []float64 {
	if len(frames) == 0 || frames[0].RTP == nil || frames[0].Recv == nil {
		return nil
	}
	// RTP times unwrapped, in ms from the first frame's.
	rtp := make([]float64, len(frames))
	var acc int64
	for i := 1; i < len(frames); i++ {
		acc += int64(int32(uint32(*frames[i].RTP) - uint32(*frames[i-1].RTP)))
		rtp[i] = float64(acc) / 90
	}
	ref := math.Inf(-1)
	for i, f := range frames {
		ref = max(ref, rtp[i]-*f.Recv)
	}
	lags := make([]float64, len(frames))
	for i, f := range frames {
		lags[i] = ref + f.At - rtp[i]
	}
	return lags
}

func summarize(run viewerRun) viewerResult {
	r := viewerResult{Connected: -1, FirstFrame: -1, Live: -1, Frames: len(run.Frames)}
	if run.ConnectedMs != nil {
		r.Connected = *run.ConnectedMs
	}
	if len(run.Frames) == 0 {
		return r
	}
	r.FirstFrame = run.Frames[0].At
	lags := liveLag(run.Frames)
	for i := len(lags) - 1; i >= 0 && lags[i] <= 150; i-- {
		r.Live = run.Frames[i].At
	}
	for _, l := range lags {
		r.MaxLag = max(r.MaxLag, l)
	}
	var lastMove float64 = -1
	prev := 0
	for _, s := range run.Stats {
		if s.FramesDecoded > prev {
			if prev > 0 {
				r.StallMs = max(r.StallMs, s.At-lastMove)
			}
			prev, lastMove = s.FramesDecoded, s.At
		}
	}
	if n := len(run.Stats); n > 0 {
		last := run.Stats[n-1]
		r.Freezes, r.FreezeMs = last.FreezeCount, last.TotalFreezesDuration*1000
		for _, s := range run.Stats {
			if last.At-s.At <= 1000 && last.JitterBufferEmittedCount > s.JitterBufferEmittedCount {
				r.JitterBuffer = (last.JitterBufferDelay - s.JitterBufferDelay) / float64(last.JitterBufferEmittedCount-s.JitterBufferEmittedCount) * 1000
				break
			}
		}
	}
	return r
}

// quantile is the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	return s[max(0, int(math.Ceil(q*float64(len(s))))-1)]
}

// TestChromiumFirstFrameFixedGOP measures, in headless Chromium, fresh
// WHEP viewers of a publisher that a running server already has: time to
// the first presented frame, freezes, and time until the picture is
// within 150 ms of live. scripts/first-frame-chromium.sh runs it against
// `livectl publish --keyframe-interval 2s --ignore-pli` and serve with
// the GOP catch-up sent all at once and paced. Set
//
//	LIVECTL_FIRST_FRAME_WHEP  the WHEP URL to watch (the test skips without it)
//	LIVECTL_FIRST_FRAME_N     viewers, one after another (20)
//	LIVECTL_FIRST_FRAME_GOP   the publisher's keyframe interval (2s): viewer i
//	                          starts i/N of it later in the GOP than the cadence alone
//	LIVECTL_FIRST_FRAME_OUT   a file for the per-viewer results (JSON)
//
// It fails when a viewer shows no frame; the figures are logged.
func TestChromiumFirstFrameFixedGOP(t *testing.T) {
	whep := os.Getenv("LIVECTL_FIRST_FRAME_WHEP")
	if whep == "" {
		t.Skip("LIVECTL_FIRST_FRAME_WHEP not set: run scripts/first-frame-chromium.sh")
	}
	u, err := url.Parse(whep)
	if err != nil {
		t.Fatalf("LIVECTL_FIRST_FRAME_WHEP: %v", err)
	}
	n := 20
	if v, err := strconv.Atoi(os.Getenv("LIVECTL_FIRST_FRAME_N")); err == nil && v > 0 {
		n = v
	}
	gop := 2 * time.Second
	if v, err := time.ParseDuration(os.Getenv("LIVECTL_FIRST_FRAME_GOP")); err == nil && v > 0 {
		gop = v
	}
	const observe = 6 * time.Second
	// Viewer i starts at i × (observe + gop/n + a margin rounded to whole
	// GOPs): its offset in the GOP moves by gop/n each time.
	period := observe + time.Second + gop/time.Duration(n)
	period += (gop - (observe+time.Second)%gop) % gop

	browser := browsertest.Launch(t)
	base := time.Now().Add(2 * time.Second)
	var results []viewerResult
	for i := range n {
		tab, cancelTab := chromedp.NewContext(browser)
		ctx, cancel := context.WithTimeout(tab, observe+30*time.Second)
		// Same origin as the WHEP URL, so the POST needs no CORS.
		if err := chromedp.Do(ctx, chromedp.Navigate(u.Scheme+"://"+u.Host+"/healthz")); err != nil {
			cancel()
			cancelTab()
			t.Fatalf("viewer %d: loading a page of the server: %v", i+1, err)
		}
		start := base.Add(time.Duration(i) * period)
		time.Sleep(time.Until(start))
		run, err := chromedp.Run(ctx, chromedp.Evaluate[viewerRun](fmt.Sprintf("%s(%q, %d)", viewerJS, whep, observe.Milliseconds()), chromedp.EvalAwaitPromise))
		cancel()
		cancelTab()
		if err != nil {
			t.Fatalf("viewer %d: %v", i+1, err)
		}
		r := summarize(run)
		r.Offset = float64((time.Duration(i) * period % gop).Milliseconds())
		if r.Frames == 0 {
			t.Errorf("viewer %d: no frame presented in %v (POST took %.0f ms)", i+1, observe, run.PostMs)
		}
		t.Logf("viewer %2d: connected %6.1f ms, first frame %6.1f ms, within 150 ms of live from %7.1f ms (max lag %6.1f ms), freezes %d (%.0f ms), longest decode stall %.0f ms, jitter buffer %.0f ms, %d frames",
			i+1, r.Connected, r.FirstFrame, r.Live, r.MaxLag, r.Freezes, r.FreezeMs, r.StallMs, r.JitterBuffer, r.Frames)
		results = append(results, r)
	}
	var conn, first, live, freezes []float64
	never := 0
	for _, r := range results {
		first = append(first, r.FirstFrame)
		conn = append(conn, r.Connected)
		freezes = append(freezes, float64(r.Freezes))
		if r.Live < 0 {
			never++
		} else {
			live = append(live, r.Live)
		}
	}
	t.Logf("%d viewers: first frame p50 %.1f ms p95 %.1f ms max %.1f ms (target p95 ≤ 120 ms; connected p50 %.1f ms p95 %.1f ms); within 150 ms of live p50 %.0f ms p95 %.0f ms max %.0f ms (%d never in %v); freezes per viewer p50 %.0f max %.0f",
		len(results), quantile(first, .5), quantile(first, .95), quantile(first, 1), quantile(conn, .5), quantile(conn, .95), quantile(live, .5), quantile(live, .95), quantile(live, 1), never, observe,
		quantile(freezes, .5), quantile(freezes, 1))
	if out := os.Getenv("LIVECTL_FIRST_FRAME_OUT"); out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Errorf("writing %s: %v", out, err)
		}
	}
}

// TestLiveLag: frames of a catch-up that arrived together are as far
// behind live as their age plus their wait; live frames only their wait.
func TestLiveLag(t *testing.T) {
	f := func(at, recv, rtpMs float64) viewerFrame {
		rtp := float64(uint32(4294967000 + uint32(rtpMs*90))) // across the wrap
		return viewerFrame{At: at, Recv: &recv, RTP: &rtp}
	}
	tests := []struct {
		name   string
		frames []viewerFrame
		want   []float64
	}{
		{"live", []viewerFrame{f(10, 5, 0), f(43, 38, 33), f(76, 71, 66)}, []float64{5, 5, 5}},
		// A GOP 1 s old arrives at 5 ms and plays out in real time: it
		// stays 1 s behind; then a live frame, presented 5 ms after it came.
		{"catch-up in real time", []viewerFrame{f(10, 5, 0), f(510, 5, 500), f(1010, 1005, 2000)}, []float64{1005, 1005, 5}},
		{"no rtp times", []viewerFrame{{At: 1}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := liveLag(tc.frames)
			if len(got) != len(tc.want) {
				t.Fatalf("lags %v, want %v", got, tc.want)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 0.1 {
					t.Errorf("lags %v, want %v", got, tc.want)
					break
				}
			}
		})
	}
}
