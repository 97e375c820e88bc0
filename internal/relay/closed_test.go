package relay

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestClosedViewerNotReattached: the room tells its subscribers about a new
// track from a snapshot taken under its lock; a WHEP viewer that closes
// after the snapshot (DELETE, ICE failure, connect timeout) must not get a
// down-track on the new track. It once did, and the track then filled the
// closed viewer's queue (512 packets pinned) and counted drops on every
// packet for the rest of its life.
func TestClosedViewerNotReattached(t *testing.T) {
	r := newTestRelay(t, Config{})
	client := newTestSubscriber(t, nil)
	defer client.Close()
	pub := startPublisher(t, r, "demo", "alice", nil) // the viewer's slots want its codecs
	defer pub.Close()
	for len(r.Tracks("demo")) < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	sess, _, err := r.SubscribeOffer("demo", "viewer", recvOnlyOffer(t, client.pc))
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	rm := r.rooms["demo"]
	r.mu.Unlock()
	rm.mu.Lock()
	snapshot := rm.subscribers() // as Room.addTrack takes it
	rm.mu.Unlock()
	sess.Close()

	up := newUpTrack(rm, nil, TrackInfo{ID: "TR_late", Kind: "video"}, 1, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	defer up.cache.clear()
	for _, s := range snapshot {
		s.trackAdded(up)
	}
	if n := len(*up.downs.Load()); n != 0 {
		t.Fatalf("a closed viewer's down-tracks were attached to a new track: %d", n)
	}
	for _, d := range sess.downTracks() {
		if d.src.Load() != nil || d.waitingOn.Load() != nil {
			t.Errorf("closed viewer's %s track has a source (%v) or waits for a keyframe (%v)", d.kind, d.src.Load() != nil, d.waitingOn.Load() != nil)
		}
	}
}

// TestRepublishReusesTransceivers: a /ws viewer that stays while its
// publisher reconnects again and again must not collect an m-section per
// track ever published. Each reconnect once added two transceivers for
// good; after ~60 the offer passed the protocol's 48 KiB SDP limit, the
// answer was refused and the viewer got no offer, and no media, again.
// Media must still flow on the tracks of the last reconnect.
func TestRepublishReusesTransceivers(t *testing.T) {
	r := newTestRelay(t, Config{})
	ts, sess := subscribeWS(t, r, "churn", "viewer")
	defer func() { ts.Close(); sess.Close() }()
	videoPkts := func() int { ts.mu.Lock(); defer ts.mu.Unlock(); return ts.videoPkts }
	const rounds = 6
	for i := range rounds {
		before := videoPkts()
		pub := startPublisher(t, r, "churn", "alice", nil)
		deadline := time.Now().Add(10 * time.Second)
		for videoPkts() < before+30 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if videoPkts() < before+30 {
			pub.Close()
			pub.sess.Close()
			t.Fatalf("round %d: the viewer got %d video packets from the new publisher, want 30", i, videoPkts()-before)
		}
		pub.Close()
		pub.sess.Close()
		for len(r.Tracks("churn")) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Let the last removal's renegotiation finish before tearing down.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		sess.negMu.Lock()
		busy := sess.offerPending || sess.needNeg
		sess.negMu.Unlock()
		if !busy {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Two sections (audio, video) in use; two more allowed for a reconnect
	// that outran the removal's renegotiation.
	if n := len(sess.pc.GetTransceivers()); n > 4 {
		t.Errorf("after %d reconnects the viewer's connection has %d transceivers, want at most 4", rounds, n)
	}
}
