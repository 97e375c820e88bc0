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
