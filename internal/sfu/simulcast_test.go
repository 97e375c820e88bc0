package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/netshape"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/stats"
)

// layerViewer is a WHEP viewer behind a shaped path that records the size
// of every frame it receives, decodes every keyframe with the Go VP8
// decoder and checks that sequence numbers and timestamps run on.
type layerViewer struct {
	pc    *webrtc.PeerConnection
	shape *netshape.Conn
	mux   *ice.UDPMuxDefault
	sess  *peer.Session
	done  chan struct{}

	mu          sync.Mutex
	lt          media.LayerTracker
	keyframes   int
	decodeFails []string
	breaks      []string // sequence or timestamp discontinuities
	lastFrame   time.Time
	longGaps    []string // gaps between frames over 300 ms, for the log
}

func startLayerViewer(t *testing.T, url string, rate int64) *layerViewer {
	t.Helper()
	raw, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := &layerViewer{shape: netshape.Wrap(raw, netshape.Options{RateBps: rate}), done: make(chan struct{})}
	v.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: v.shape})
	api, err := peer.NewAPI(peer.Options{UDPMux: v.mux})
	if err != nil {
		t.Fatal(err)
	}
	if v.pc, err = peer.NewPeerConnection(api, peer.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.close)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := v.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	v.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			go v.read(tr)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offer, err := peer.Offer(ctx, v.pc)
	if err != nil {
		t.Fatal(err)
	}
	if v.sess, err = peer.Exchange(ctx, nil, url, "", offer); err != nil {
		t.Fatal(err)
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: v.sess.Answer}); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *layerViewer) read(tr *webrtc.TrackRemote) {
	defer close(v.done)
	asm, _ := media.NewAssembler(media.MimeVP8)
	var maxSeq uint16
	var lastTS uint32
	var lastAt time.Time
	haveSeq, haveTS := false, false
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		v.mu.Lock()
		// Loss leaves gaps, and retransmissions come late; a jump of
		// hundreds of numbers means the relay broke the sequence.
		if d := int16(p.SequenceNumber - maxSeq); haveSeq && (d > 300 || d < -300) {
			v.breaks = append(v.breaks, fmt.Sprintf("seq %d after %d", p.SequenceNumber, maxSeq))
		}
		if d := int16(p.SequenceNumber - maxSeq); !haveSeq || d > 0 {
			maxSeq, haveSeq = p.SequenceNumber, true
		}
		if f, ok := asm.Push(p); ok {
			// Timestamps go forward, by about the time that passed: a
			// pause (video below the lowest layer) moves them on by its
			// length, a switch by a frame.
			if haveTS {
				step := time.Duration(f.Timestamp-lastTS) * time.Second / 90000
				if int32(f.Timestamp-lastTS) <= 0 || step > now.Sub(lastAt)+time.Second {
					v.breaks = append(v.breaks, fmt.Sprintf("frame timestamp +%v after %v", step, now.Sub(lastAt)))
				}
			}
			lastTS, lastAt, haveTS = f.Timestamp, now, true
			if g := now.Sub(v.lastFrame); !v.lastFrame.IsZero() && g > 300*time.Millisecond {
				v.longGaps = append(v.longGaps, fmt.Sprintf("%v ending %s", g.Round(time.Millisecond), now.Format("15:04:05.000")))
			}
			v.lastFrame = now
			if f.Keyframe {
				v.keyframes++
				img, err := media.DecodeVP8(f.Data)
				switch {
				case err != nil:
					v.decodeFails = append(v.decodeFails, err.Error())
				case img.Rect.Dx() != f.Width || img.Rect.Dy() != f.Height:
					v.decodeFails = append(v.decodeFails, fmt.Sprintf("decoded %v, header says %dx%d", img.Rect, f.Width, f.Height))
				}
			}
			v.lt.Frame(now, f)
		}
		v.mu.Unlock()
	}
}

func (v *layerViewer) current() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lt.Current()
}

// waitLayer waits up to d for the viewer to receive size and reports when
// that began.
func (v *layerViewer) waitLayer(t *testing.T, d time.Duration, size, who string) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		v.mu.Lock()
		cur, at := v.lt.Current(), v.lt.SettledAt()
		v.mu.Unlock()
		if cur == size {
			return at
		}
		time.Sleep(100 * time.Millisecond)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	t.Fatalf("%s: not on %s within %v: spans %v", who, size, d, v.lt.Spans())
	return time.Time{}
}

func (v *layerViewer) check(t *testing.T, who string) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keyframes == 0 || len(v.decodeFails) > 0 {
		t.Errorf("%s: %d keyframes, decode failures %v", who, v.keyframes, v.decodeFails)
	}
	if len(v.breaks) > 0 {
		t.Errorf("%s: discontinuities %v", who, v.breaks)
	}
	t.Logf("%s: %d keyframes decoded, layers over time %v, %d switches; gaps over 300ms %v", who, v.keyframes, v.lt.Spans(), v.lt.Switches(), v.longGaps)
}

func (v *layerViewer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if v.sess != nil {
		v.sess.Close(ctx)
	}
	cancel()
	v.pc.Close()
	v.mux.Close()
	v.shape.Close()
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
	}
}

// startSimulcast serves a room "sc" with a simulcast publisher in it and
// returns the server and the WHEP URL to watch it. LIVECTL_TEST_DEBUG=1
// logs the relay's layer choices.
func startSimulcast(t *testing.T) (*testServer, string) {
	t.Helper()
	var mc Config
	if os.Getenv("LIVECTL_TEST_DEBUG") != "" {
		mc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ts := newMediaServer(t, server.Config{}, mc)
	pub, err := publish.Start(ctxT(t), publish.Options{URL: ts.http.URL + "/whip/sc", Simulcast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	return ts, ts.http.URL + "/whep/sc"
}

// TestSimulcastLayerRequest: WHEP viewers that cap the layers get them:
// ?layer=q only the 320x180 layer, ?max_width=640 nothing wider than
// 640; every keyframe decodes and the numbers run on. /v1/stats and
// /metrics count them per layer, and the top layer as taken by no one.
func TestSimulcastLayerRequest(t *testing.T) {
	ts, whep := startSimulcast(t)
	low := startLayerViewer(t, whep+"?layer=q", 0)
	mid := startLayerViewer(t, whep+"?max_width=640", 0)
	low.waitLayer(t, 10*time.Second, "320x180", "viewer asking for q")
	waitFor(t, func() bool { return mid.current() != "" })
	time.Sleep(4 * time.Second)
	for _, v := range []struct {
		v    *layerViewer
		who  string
		want map[string]bool
	}{
		{low, "?layer=q", map[string]bool{"320x180": true}},
		{mid, "?max_width=640", map[string]bool{"320x180": true, "640x360": true}},
	} {
		v.v.mu.Lock()
		for _, sp := range v.v.lt.Spans() {
			if !v.want[sp.Size] {
				t.Errorf("%s viewer received %s", v.who, sp.Size)
			}
		}
		v.v.mu.Unlock()
		v.v.check(t, v.who)
	}
	var sc *stats.Simulcast
	for _, r := range getStats(t, ts).Rooms {
		if r.Name == "sc" {
			sc = r.Simulcast
		}
	}
	if sc == nil || sc.ViewersPerLayer["q"] != 1 || sc.ViewersPerLayer["h"] != 1 || sc.UnusedLayers != 1 || sc.EstimateP50Bps == 0 {
		t.Errorf("/v1/stats simulcast figures %+v, want a viewer on q and on h, f unused, an estimate", sc)
	}
	// probe --layer q, over /ws (set_quality) and WHEP (?layer=q),
	// reports the layer it received over its observation.
	for _, o := range []probe.Options{{URL: ts.wsURL, Room: "sc"}, {URL: whep}} {
		o.Layer, o.Observe, o.NoImage = "q", 2*time.Second, true
		r := probe.Attempt(ctxT(t), o)
		if !r.OK() || len(r.Layers) == 0 || r.TimeAtLayerMS["320x180"] < 1500 {
			t.Errorf("probe %s --layer q: %s; layers %v, time at each %v", o.URL, r.Error, r.Layers, r.TimeAtLayerMS)
		}
		for i, sp := range r.Layers {
			// Over /ws the first layer can come before set_quality.
			if i > 0 && sp.Size != "320x180" {
				t.Errorf("probe %s --layer q: switched to %s", o.URL, sp.Size)
			}
		}
	}
	metrics := getText(t, ts.http.URL+"/metrics")
	for _, want := range []string{`livectl_room_simulcast_viewers{layer="q",room="sc"} 1`, `livectl_room_simulcast_unused_layers{room="sc"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestSimulcastCapBeforeTrack: a /ws viewer that asks for q before the
// room has a track (set_quality without a track_id, right after
// subscribing) gets q from the simulcast track published after it, not the
// layer its estimate would choose.
func TestSimulcastCapBeforeTrack(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	res := make(chan probe.Result, 1)
	go func() {
		res <- probe.Attempt(ctxT(t), probe.Options{URL: ts.wsURL, Room: "late", Layer: "q", Observe: 3 * time.Second, NoImage: true, Timeout: 20 * time.Second})
	}()
	// The viewer's subscription exists before the publisher starts, and
	// its set_quality follows at once: the second is a margin for a loaded
	// host (a set_quality that came after the track would be applied as a
	// switch, and the first frames would be h: a false failure).
	waitFor(t, func() bool {
		for _, r := range getStats(t, ts).Rooms {
			if r.Name == "late" && r.Subscribers > 0 {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second)
	pub, err := publish.Start(ctxT(t), publish.Options{URL: ts.http.URL + "/whip/late", Simulcast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	r := <-res
	if !r.OK() || len(r.Layers) == 0 {
		t.Fatalf("probe: %s; layers %v", r.Error, r.Layers)
	}
	for _, sp := range r.Layers {
		if sp.Size != "320x180" {
			t.Errorf("viewer that asked for q before the track received %s (layers %v)", sp.Size, r.Layers)
		}
	}
}
