package sfu

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/stats"
)

func getStats(t testing.TB, ts *testServer) stats.Snapshot {
	t.Helper()
	resp, err := http.Get(ts.http.URL + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s stats.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// probeAll runs probe attempts concurrently and checks each decoded the
// clip's first keyframe.
func probeAll(t *testing.T, opts []probe.Options) {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]probe.Result, len(opts))
	for i, o := range opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.Timeout = 10 * time.Second
			results[i] = probe.Attempt(context.Background(), o)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if !r.OK() {
			t.Errorf("subscriber %d (%s): %s", i, opts[i].URL, r.Error)
			continue
		}
		if _, ok := r.PhasesMS[probe.PhaseFirstDecoded]; !ok || r.Width != 640 || r.Height != 360 || r.Black {
			t.Errorf("subscriber %d (%s): decoded %dx%d black=%v phases %v; want the 640x360 clip", i, opts[i].URL, r.Width, r.Height, r.Black, r.PhasesMS)
		}
	}
}

// TestWSPublishSubscribe publishes the clip over /ws and watches it from
// /ws and WHEP subscribers; a participant sees the track events.
func TestWSPublishSubscribe(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	events := make(chan *signal.Message, 16)
	w := dial(t, ts.wsURL, &signal.DialOptions{OnEvent: func(m *signal.Message) {
		if m.Type == signal.TypeTrackPublished || m.Type == signal.TypeTrackUnpublished {
			events <- m
		}
	}})
	if _, err := w.Join(ctxT(t), "stage", "watcher", ""); err != nil {
		t.Fatal(err)
	}
	pub, err := publish.Start(ctxT(t), publish.Options{URL: ts.wsURL, Room: "stage", Identity: "alice"})
	if err != nil {
		t.Fatalf("publishing over /ws: %v", err)
	}
	defer pub.Close()
	kinds := map[string]bool{}
	for range 2 {
		ev := next(t, events)
		if ev.Type != signal.TypeTrackPublished || ev.Track == nil || ev.Track.Publisher != "alice" || ev.Track.ID == "" {
			t.Fatalf("event %+v, want track_published by alice", ev)
		}
		kinds[ev.Track.Kind] = true
	}
	if !kinds["audio"] || !kinds["video"] {
		t.Errorf("published kinds %v, want audio and video", kinds)
	}

	// 20 pion subscribers, 10 over /ws and 10 over WHEP, each decoding a keyframe.
	var opts []probe.Options
	for range 10 {
		opts = append(opts, probe.Options{URL: ts.wsURL, Room: "stage"}, probe.Options{URL: ts.http.URL + "/whep/stage"})
	}
	probeAll(t, opts)

	st := getStats(t, ts)
	if st.TracksPublished != 2 || st.PacketsIn == 0 || st.PacketsOut == 0 || st.BytesIn == 0 {
		t.Errorf("/v1/stats media figures: tracks %d packets in %d out %d bytes in %d", st.TracksPublished, st.PacketsIn, st.PacketsOut, st.BytesIn)
	}
	var room *stats.Room
	for i := range st.Rooms {
		if st.Rooms[i].Name == "stage" {
			room = &st.Rooms[i]
		}
	}
	if room == nil || room.Tracks != 2 || room.Publishers < 1 {
		t.Errorf("/v1/stats rooms: %+v", st.Rooms)
	}

	pub.Close()
	for range 2 {
		if ev := next(t, events); ev.Type != signal.TypeTrackUnpublished {
			t.Errorf("after the publisher left: %+v, want track_unpublished", ev)
		}
	}
	// Everyone has left: no media state remains (goroutines are checked by
	// the package's goleak TestMain).
	// A publisher's tracks go before the publisher does (Close unpublishes
	// first), so wait for the room itself too.
	waitFor(t, func() bool {
		st := getStats(t, ts)
		return st.TracksPublished == 0 && st.TracksSubscribed == 0 && len(ts.sfu.relay.Stats().Rooms) == 0
	})
}

// TestWHIPIntoRoom publishes with WHIP and watches over /ws and WHEP.
func TestWHIPIntoRoom(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	pub, err := publish.Start(ctxT(t), publish.Options{URL: ts.http.URL + "/whip/studio"})
	if err != nil {
		t.Fatalf("publishing over WHIP: %v", err)
	}
	defer pub.Close()
	probeAll(t, []probe.Options{{URL: ts.wsURL, Room: "studio"}, {URL: ts.http.URL + "/whep/studio"}})
	if err := pub.Close(); err != nil {
		t.Logf("closing publisher: %v", err)
	}
	// The WHIP resource is deleted; the room empties.
	waitFor(t, func() bool { return getStats(t, ts).TracksPublished == 0 })
}

// TestMediaRequestErrors checks the /ws media requests' failure replies.
func TestMediaRequestErrors(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	c := dial(t, ts.wsURL, nil)
	if _, err := c.Join(ctxT(t), "r", "x", ""); err != nil {
		t.Fatal(err)
	}
	cand := &signal.ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}
	tests := []struct {
		name string
		msg  signal.Message
		code string
	}{
		{"publish garbage SDP", signal.Message{Type: signal.TypePublish, SDP: "not sdp"}, signal.CodeBadSDP},
		// /ws publish accepted 520 media sections within 48 KiB (issue 15).
		{"publish with too many media sections", signal.Message{Type: signal.TypePublish, SDP: manySectionsOffer(sendOffer(t), 300)}, signal.CodeBadSDP},
		{"publish with no common codec", signal.Message{Type: signal.TypePublish, SDP: noCommonCodecOffer}, signal.CodeBadSDP},
		{"answer without subscribe", signal.Message{Type: signal.TypeAnswer, SDP: "v=0"}, signal.CodeBadMessage},
		{"trickle without publisher", signal.Message{Type: signal.TypeTrickle, Target: signal.TargetPublisher, Candidate: cand}, signal.CodeBadMessage},
		{"unpublish with nothing published", signal.Message{Type: signal.TypeUnpublish}, signal.CodeBadMessage},
		{"set_quality without subscribe", signal.Message{Type: signal.TypeSetQuality, Layer: "q"}, signal.CodeBadMessage},
		{"set_quality with an unknown layer", signal.Message{Type: signal.TypeSetQuality, Layer: "x"}, signal.CodeBadMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.msg
			_, err := c.Call(ctxT(t), &m)
			if !errorsIsCode(err, tc.code) {
				t.Errorf("got %v, want code %s", err, tc.code)
			}
		})
	}
	// subscribe then a bad answer
	r, err := c.Call(ctxT(t), &signal.Message{Type: signal.TypeSubscribe})
	if err != nil || r.Type != signal.TypeOffer || r.SDP == "" {
		t.Fatalf("subscribe: %+v %v, want an offer", r, err)
	}
	if _, err := c.Call(ctxT(t), &signal.Message{Type: signal.TypeAnswer, SDP: "garbage"}); !errorsIsCode(err, signal.CodeBadSDP) {
		t.Errorf("garbage answer: %v, want bad_sdp", err)
	}
	// set_quality on the subscription: for every video track, or one it has.
	if r, err := c.Call(ctxT(t), &signal.Message{Type: signal.TypeSetQuality, Layer: "h"}); err != nil || r.Type != signal.TypeQualitySet || r.Layer != "h" {
		t.Errorf("set_quality: %+v %v, want quality_set", r, err)
	}
	if _, err := c.Call(ctxT(t), &signal.Message{Type: signal.TypeSetQuality, TrackID: "TR_none", MaxWidth: 640}); !errorsIsCode(err, signal.CodeBadMessage) {
		t.Errorf("set_quality for a track the subscription lacks: %v, want bad_message", err)
	}
}

func errorsIsCode(err error, code string) bool {
	pe, ok := err.(*signal.Error)
	return ok && pe.Code == code
}

// TestGoClientRenegotiation drives the media requests with the signal
// client's helpers and plain pion peers: a subscriber in an empty room,
// then a publisher arrives (the subscriber is re-offered and receives its
// video), then unpublishes.
func TestGoClientRenegotiation(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	ctx := ctxT(t)
	api, err := peer.NewAPI(peer.Options{})
	if err != nil {
		t.Fatal(err)
	}

	offers := make(chan string, 4)
	unpublished := make(chan struct{}, 4)
	sc := dial(t, ts.wsURL, &signal.DialOptions{ReadBufferSize: 16 << 10, OnEvent: func(m *signal.Message) {
		switch m.Type {
		case signal.TypeOffer:
			offers <- m.SDP
		case signal.TypeTrackUnpublished:
			unpublished <- struct{}{}
		}
	}})
	if _, err := sc.Join(ctx, "reneg", "viewer", ""); err != nil {
		t.Fatal(err)
	}
	spc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer spc.Close()
	gotVideo := make(chan struct{})
	var once sync.Once
	spc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				once.Do(func() { close(gotVideo) })
			}
		}
	})
	first, err := sc.Subscribe(ctx)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	ans, err := peer.Answer(ctx, spc, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Answer(ans); err != nil {
		t.Fatal(err)
	}

	pc := dial(t, ts.wsURL, &signal.DialOptions{ReadBufferSize: 16 << 10})
	if _, err := pc.Join(ctx, "reneg", "alice", ""); err != nil {
		t.Fatal(err)
	}
	pub, err := publish.Start(ctx, publish.Options{URL: ts.wsURL, Room: "reneg", Identity: "alice", NoAudio: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	select {
	case o := <-offers:
		a, err := peer.Answer(ctx, spc, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Answer(a); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no renegotiation offer after a track was published")
	}
	select {
	case <-gotVideo:
	case <-time.After(5 * time.Second):
		t.Fatal("no video on the renegotiated subscriber peer connection")
	}
	// Unpublish from a connection with nothing published is refused; the
	// publisher's own leaving unpublishes.
	if err := pc.Unpublish(ctx, ""); !errorsIsCode(err, signal.CodeBadMessage) {
		t.Errorf("unpublish with nothing published: %v", err)
	}
	pub.Close()
	select {
	case <-unpublished:
	case <-time.After(5 * time.Second):
		t.Fatal("no track_unpublished after the publisher left")
	}
}

// TestH264Forwarded publishes an H.264 file over WHIP: /ws and WHEP
// subscribers negotiate H.264 and reassemble a keyframe (SPS/PPS + IDR).
func TestH264Forwarded(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	pub, err := publish.Start(ctxT(t), publish.Options{URL: ts.http.URL + "/whip/h264", File: "../media/testdata/clip.h264"})
	if err != nil {
		t.Fatalf("publishing H.264: %v", err)
	}
	defer pub.Close()
	for _, o := range []probe.Options{{URL: ts.wsURL, Room: "h264"}, {URL: ts.http.URL + "/whep/h264"}} {
		o.Timeout = 10 * time.Second
		r := probe.Attempt(context.Background(), o)
		if !r.OK() {
			t.Errorf("%s: %s", o.URL, r.Error)
			continue
		}
		if _, ok := r.PhasesMS[probe.PhaseFirstKeyframe]; !ok || r.Codec != "video/H264" || r.Width != 320 {
			t.Errorf("%s: codec %q %dx%d phases %v; want an H264 320x240 keyframe", o.URL, r.Codec, r.Width, r.Height, r.PhasesMS)
		}
	}
}

// TestPerRoomMetrics checks the per-room media series on /metrics.
func TestPerRoomMetrics(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	pub, err := publish.Start(ctxT(t), publish.Options{URL: ts.http.URL + "/whip/metered"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	probeAll(t, []probe.Options{{URL: ts.http.URL + "/whep/metered"}})
	c := dial(t, ts.wsURL, nil) // a signaling-only room has its series too
	if _, err := c.Join(ctxT(t), "lobby", "a", ""); err != nil {
		t.Fatal(err)
	}
	b := getText(t, ts.http.URL+"/metrics")
	for _, want := range []string{
		`livectl_room_tracks{room="metered"} 2`,
		`livectl_room_packets_in_total{room="metered"}`,
		`livectl_room_bitrate_out_bps{room="metered"}`,
		`livectl_room_plis_total{room="metered"}`,
		`livectl_media_queue_drops_total`,
		`livectl_room_packets_lost{room="metered"}`,
		`livectl_room_participants{room="lobby"} 1`,
		"# TYPE livectl_media_packets_lost gauge",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// getText returns the body of a GET.
func getText(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSubscriptionEndsWhenOfferOutgrowsLimit: a /ws subscription whose next
// offer the client could not answer within the protocol's SDP limit ends
// with an error saying so. It once sent the offer, the answer was refused
// ("sdp longer than 49152 bytes"), and the subscription waited for an
// answer for ever: no more offers, no media, no word why.
func TestSubscriptionEndsWhenOfferOutgrowsLimit(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	ctx := ctxT(t)
	api, err := peer.NewAPI(peer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *signal.Message, 16)
	sc := dial(t, ts.wsURL, &signal.DialOptions{OnEvent: func(m *signal.Message) {
		if m.Type == signal.TypeOffer || m.Type == signal.TypeError {
			events <- m
		}
	}})
	if _, err := sc.Join(ctx, "big", "viewer", ""); err != nil {
		t.Fatal(err)
	}
	spc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer spc.Close()
	first, err := sc.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Room for the first offer, not for one with a track's section more.
	ts.sfu.maxOfferLen.Store(int64(len(first) + 100))
	ans, err := peer.Answer(ctx, spc, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Answer(ans); err != nil {
		t.Fatal(err)
	}
	pub, err := publish.Start(ctx, publish.Options{URL: ts.wsURL, Room: "big", Identity: "alice", NoAudio: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	select {
	case m := <-events:
		if m.Type != signal.TypeError || m.Code != signal.CodeBadSDP || !strings.Contains(m.Reason, "subscription ended") {
			t.Fatalf("got %s %s %q, want an error ending the subscription", m.Type, m.Code, m.Reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no word to the viewer after its offer outgrew the limit")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := getStats(t, ts)
		if len(st.Rooms) == 1 && st.Rooms[0].Subscribers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ended subscription is still in the room: %+v", st.Rooms)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMediaEndIsReported: a /ws subscription the server ends on its own
// (here: never answered, so never connected) is reported to the client as
// media_failed with its target; it ended in silence. One the client
// replaces by subscribing again is not reported.
func TestMediaEndIsReported(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{ConnectTimeout: 300 * time.Millisecond})
	ctx := ctxT(t)
	errs := make(chan *signal.Message, 4)
	sc := dial(t, ts.wsURL, &signal.DialOptions{OnEvent: func(m *signal.Message) {
		if m.Type == signal.TypeError {
			errs <- m
		}
	}})
	if _, err := sc.Join(ctx, "quiet", "viewer", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	// Replaced at once: its end is the client's doing.
	if _, err := sc.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-errs:
		if m.Code != signal.CodeMediaFailed || m.Target != signal.TargetSubscriber || !strings.Contains(m.Reason, "subscribe again") {
			t.Fatalf("got %+v, want media_failed for the subscriber", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server ended the subscription without a word")
	}
	select {
	case m := <-errs:
		t.Errorf("a second error %+v: the replaced subscription was reported too", m)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestMountNeedsItsServer: Mount on a server whose media plane is not this
// SFU is refused; its routes would serve sessions the server does not
// count, close or report.
func TestMountNeedsItsServer(t *testing.T) {
	plane, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer plane.Close()
	srv, err := server.New(server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := plane.Mount(srv); err == nil {
		t.Fatal("Mount on a server without this SFU as its MediaPlane succeeded")
	}
}
