package relay

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestRelay(t testing.TB, cfg Config) *Relay {
	t.Helper()
	cfg.ListenIP = "127.0.0.1"
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestFanOutDecodes publishes the VP8+Opus clip and checks that 20
// subscribers, half server-offered (/ws style) and half client-offered
// (WHEP style), each decode a keyframe and hear audio; then that everything
// is cleaned up when they and the publisher leave.
func TestFanOutDecodes(t *testing.T) {
	var events []TrackEvent
	evc := make(chan TrackEvent, 16)
	r := newTestRelay(t, Config{OnTrack: func(room string, ev TrackEvent) {
		if room == "demo" {
			evc <- ev
		}
	}})
	// Half the subscribers arrive before the publisher, half after.
	type sub struct {
		ts   *testSubscriber
		sess *Subscriber
	}
	var subs []sub
	add := func(i int) {
		var ts *testSubscriber
		var sess *Subscriber
		if i%2 == 0 {
			ts, sess = subscribeWS(t, r, "demo", fmt.Sprintf("ws-%d", i))
		} else {
			ts, sess = subscribeWHEP(t, r, "demo", fmt.Sprintf("whep-%d", i))
		}
		subs = append(subs, sub{ts, sess})
	}
	for i := range 10 {
		add(i)
	}
	pub := startPublisher(t, r, "demo", "alice", nil)
	for i := 10; i < 20; i++ {
		add(i)
	}
	for i, s := range subs {
		waitChan(t, s.ts.firstFrame, 10*time.Second, fmt.Sprintf("subscriber %d to decode a keyframe", i))
		waitChan(t, s.ts.gotAudio, 5*time.Second, fmt.Sprintf("subscriber %d to receive audio", i))
		s.ts.mu.Lock()
		if s.ts.width != 640 {
			t.Errorf("subscriber %d decoded a %d-pixel-wide picture, want 640", i, s.ts.width)
		}
		s.ts.mu.Unlock()
	}
	for len(events) < 2 {
		select {
		case ev := <-evc:
			events = append(events, ev)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d track events, want 2 published", len(events))
		}
	}
	for _, ev := range events {
		if !ev.Published || ev.Track.Publisher != "alice" {
			t.Errorf("unexpected event %+v", ev)
		}
	}

	// Feedback for the publisher's encoder: transport-wide congestion control
	// (frequent) and receiver reports (about once a second).
	deadline := time.Now().Add(3 * time.Second)
	for (pub.twcc.Load() == 0 || pub.rrs.Load() == 0) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if pub.twcc.Load() == 0 || pub.rrs.Load() == 0 {
		t.Errorf("publisher got %d transport-cc feedback and %d receiver reports, want both", pub.twcc.Load(), pub.rrs.Load())
	}
	if pub.plis.Load() == 0 {
		t.Error("the publisher got no keyframe request for its new subscribers")
	}

	st := r.Stats()
	if len(st.Rooms) != 1 || st.Rooms[0].Subscribers != 20 || st.Rooms[0].Publishers != 1 || st.TracksPublished != 2 {
		t.Errorf("stats: %+v", st)
	}
	if st.TracksSubscribed != 40 {
		t.Errorf("tracks subscribed = %d, want 40", st.TracksSubscribed)
	}
	if st.PacketsIn == 0 || st.PacketsOut < st.PacketsIn || st.BytesOut == 0 {
		t.Errorf("packet counters look wrong: in %d out %d bytes out %d", st.PacketsIn, st.PacketsOut, st.BytesOut)
	}

	for _, s := range subs {
		s.ts.Close()
		s.sess.Close()
	}
	pub.Close()
	pub.sess.Close()
	select {
	case ev := <-evc:
		if ev.Published {
			t.Errorf("after the publisher left: %+v, want unpublished", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("no unpublished event after the publisher left")
	}
	if st := r.Stats(); len(st.Rooms) != 0 {
		t.Errorf("rooms left after everyone left: %+v", st.Rooms)
	} else if st.PacketsOut == 0 {
		t.Errorf("totals reset when the room ended: %+v", st)
	}
}

// TestPublicIPCandidates checks --public-ip: the answer announces the
// public address in place of the host's.
// TestPublicIPCandidates: with --public-ip, the IPv4 host candidates
// announce the public address instead, once, whether the relay has one
// socket or one per local address.
func TestPublicIPCandidates(t *testing.T) {
	for _, listen := range []string{"127.0.0.1", ""} {
		t.Run("listen="+listen, func(t *testing.T) {
			r, err := New(Config{ListenIP: listen, PublicIPs: []string{"203.0.113.7"}})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			ts := newTestSubscriber(t, nil)
			defer ts.Close()
			if _, err := ts.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
			sess, answer, err := r.SubscribeOffer("nat", "v", offerWithCandidates(t, ts.pc))
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			port := fmt.Sprint(r.UDPAddr().(*net.UDPAddr).Port)
			if n := strings.Count(answer, " 1 udp 2130706431 203.0.113.7 "+port+" typ host"); n != 1 {
				t.Errorf("%d component-1 candidates for the public IP on port %s, want 1:\n%s", n, port, answer)
			}
			for _, line := range strings.Split(answer, "\r\n") {
				f := strings.Fields(line)
				if strings.HasPrefix(line, "a=candidate:") && len(f) > 4 {
					if ip := net.ParseIP(f[4]); ip.To4() != nil && f[4] != "203.0.113.7" {
						t.Errorf("IPv4 address %s announced besides the public one: %s", f[4], line)
					}
				}
			}
		})
	}
}

// TestAbandonedSessionsEnd: sessions whose peer never connects are closed
// after ConnectTimeout, and their room goes away.
func TestAbandonedSessionsEnd(t *testing.T) {
	r := newTestRelay(t, Config{ConnectTimeout: 300 * time.Millisecond})
	api := clientAPI(t)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer := offerWithCandidates(t, pc)
	pub, _, err := r.Publish("ghost", "p", offer) // the answer is never applied
	if err != nil {
		t.Fatal(err)
	}
	sub, _, err := r.Subscribe("ghost", "s", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	for name, done := range map[string]<-chan struct{}{"publisher": pub.Done(), "subscriber": sub.Done()} {
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Errorf("%s that never connected is still open", name)
		}
	}
	if st := r.Stats(); len(st.Rooms) != 0 {
		t.Errorf("rooms left: %+v", st.Rooms)
	}
}
