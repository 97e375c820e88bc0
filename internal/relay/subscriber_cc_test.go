package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// offerSimulcast publishes into room an offer declaring two simulcast
// layers of one video track (no packets are sent: what the offer says
// is enough for roomSimulcast).
func offerSimulcast(t *testing.T, r *Relay, room string) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	q, _ := webrtc.NewTrackLocalStaticRTP(vp8, "video", "sc", webrtc.WithRTPStreamID("q"))
	h, _ := webrtc.NewTrackLocalStaticRTP(vp8, "video", "sc", webrtc.WithRTPStreamID("h"))
	snd, err := pc.AddTrack(q)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.AddEncoding(h); err != nil {
		t.Fatal(err)
	}
	offer := offerWithCandidates(t, pc)
	if !strings.Contains(offer, "a=simulcast") {
		t.Fatalf("the test publisher's offer declares no simulcast:\n%s", offer)
	}
	sess, _, err := r.Publish(room, "sc", offer)
	if err != nil {
		t.Fatalf("publishing simulcast: %v", err)
	}
	t.Cleanup(sess.Close)
}

// TestSubscriberCongestionControlOnlyForSimulcast: a viewer carries the
// send-side estimator, and asks its client for transport-wide feedback,
// only in a room whose video comes in simulcast layers; elsewhere the
// estimate has nothing to choose and would cost every viewer for nothing.
// Both subscription paths (WHEP, /ws), against a room with a plain
// publisher and one with a publisher that offered layers.
func TestSubscriberCongestionControlOnlyForSimulcast(t *testing.T) {
	r := newTestRelay(t, Config{})
	pub := startPublisher(t, r, "plain", "cam", nil)
	defer pub.Close()
	offerSimulcast(t, r, "layers")

	for _, c := range []struct {
		room   string
		ws     bool
		wantCC bool
	}{
		{"plain", false, false},
		{"plain", true, false},
		{"layers", false, true},
		{"layers", true, true},
		{"empty", false, false},
	} {
		name := c.room + " WHEP"
		if c.ws {
			name = c.room + " ws"
		}
		t.Run(name, func(t *testing.T) {
			var (
				ts   *testSubscriber
				sess *Subscriber
			)
			if c.ws {
				ts, sess = subscribeWS(t, r, c.room, "viewer")
			} else {
				ts, sess = subscribeWHEP(t, r, c.room, "viewer")
			}
			defer ts.Close()
			defer sess.Close()
			if got := sess.bwe.twcc; got != c.wantCC {
				t.Errorf("viewer is estimated from transport-wide feedback: %v, want %v", got, c.wantCC)
			}
			if c.ws {
				// Close once the client has answered the first offer (which
				// has no media section here: the layers room has no track yet).
				deadline := time.Now().Add(5 * time.Second)
				for sess.pc.RemoteDescription() == nil && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				return
			}
			// The relay's answer names the transport-wide sequence number
			// extension only in a simulcast room, and only for video: audio
			// is kept out of the estimate (registerTWCC in bwe.go).
			var desc sdp.SessionDescription
			if err := desc.UnmarshalString(sess.pc.LocalDescription().SDP); err != nil {
				t.Fatal(err)
			}
			for _, md := range desc.MediaDescriptions {
				want := c.wantCC && md.MediaName.Media == "video"
				got := false
				for _, a := range md.Attributes {
					got = got || (a.Key == "extmap" && strings.Contains(a.Value, "transport-wide-cc"))
				}
				if got != want {
					t.Errorf("relay's answer names transport-wide-cc for %s: %v, want %v", md.MediaName.Media, got, want)
				}
			}
		})
	}
}
