package relay

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// TestRemovedTrackIsNotPublished: a publisher can close (or a track's read
// loop end) between the track's creation and its publication; the room
// must not then list a dead track that new viewers would wait on forever.
func TestRemovedTrackIsNotPublished(t *testing.T) {
	h := newHarness(Config{})
	early := h.upTrack(webrtc.MimeTypeVP8)
	h.room.removeTrack(early) // Close got there first
	h.room.addTrack(early)
	if got := h.room.trackOfKind("video", nil); got != nil {
		t.Fatalf("a track removed before it was added is published")
	}

	live := h.upTrack(webrtc.MimeTypeVP8)
	h.room.addTrack(live)
	if h.room.trackOfKind("video", nil) != live {
		t.Fatalf("track not published")
	}
	h.room.removeTrack(live)
	if h.room.trackOfKind("video", nil) != nil || !live.removed.Load() {
		t.Fatalf("track still published after removal")
	}
}

// TestLateStopWaitingKeepsNewWait: the writer can finish starting a track
// on source A after the track has moved on to wait for B; that must not
// drop the track's place in B's waiters, or B's count never returns to
// zero and its publisher is asked for a keyframe every throttle period.
func TestLateStopWaitingKeepsNewWait(t *testing.T) {
	h := newHarness(Config{})
	d := h.downTrack(&recordWriter{})
	a, b := h.upTrack(webrtc.MimeTypeVP8), h.upTrack(webrtc.MimeTypeVP8)
	d.attach(a)
	d.detach()
	d.attach(b)
	if b.waitingKF.Load() != 1 {
		t.Fatalf("B counts %d waiters, want 1", b.waitingKF.Load())
	}
	d.stopWaiting(a) // late, for the source it left
	if b.waitingKF.Load() != 1 {
		t.Fatalf("stopping the wait for A changed B's waiters to %d", b.waitingKF.Load())
	}
	b.forward(vp8Packet(1, 0, true, true))
	drain(d)
	if b.waitingKF.Load() != 0 {
		t.Errorf("B's keyframe delivered, but B still counts %d waiters", b.waitingKF.Load())
	}
	d.detach()
	b.cache.clear()
}

// bindContext is the part of pion's TrackLocalContext that Bind uses.
type bindContext struct {
	webrtc.TrackLocalContext
	w webrtc.TrackLocalWriter
}

func (c bindContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
}
func (c bindContext) SSRC() webrtc.SSRC                                      { return 777 }
func (c bindContext) WriteStream() webrtc.TrackLocalWriter                   { return c.w }
func (c bindContext) RTCPReader() interceptor.RTCPReader                     { return nil }
func (c bindContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }

// TestUnboundTrackDoesNotWait: a track added to a connected subscriber
// cannot receive anything until the client answers the offer that carries
// it (and never, if the client rejects it). Until then it must not count
// as waiting for a keyframe, which would have the publisher send one
// twice a second for as long as the subscriber stays.
func TestUnboundTrackDoesNotWait(t *testing.T) {
	h := newHarness(Config{PLIThrottle: 10 * time.Millisecond})
	w := &recordWriter{keep: true}
	d := h.downTrack(w)
	d.bound.Store(false) // offered, not yet answered
	a := h.upTrack(webrtc.MimeTypeVP8)
	var plis atomic.Int32
	a.requestPLI = func() { plis.Add(1) }
	d.attach(a)
	for i := range 5 {
		time.Sleep(15 * time.Millisecond)
		a.forward(vp8Packet(uint16(i), 0, false, true))
	}
	drain(d)
	if n := a.waitingKF.Load(); n != 0 {
		t.Fatalf("an unbound track counts as %d waiters", n)
	}
	if n := plis.Load(); n != 0 {
		t.Fatalf("%d keyframe requests for a track that cannot receive", n)
	}

	if _, err := d.Bind(bindContext{w: w}); err != nil { // the answer arrives
		t.Fatal(err)
	}
	if a.waitingKF.Load() != 1 || plis.Load() != 1 {
		t.Fatalf("bound: %d waiters, %d requests; want 1 and 1", a.waitingKF.Load(), plis.Load())
	}
	a.forward(vp8Packet(5, 3000, true, true))
	drain(d)
	if got := seqs(w); len(got) != 1 || got[0] != 5 || a.waitingKF.Load() != 0 {
		t.Fatalf("after the keyframe: sent %v, %d waiters; want [5] and 0", got, a.waitingKF.Load())
	}
	if err := d.Unbind(bindContext{w: w}); err != nil {
		t.Fatal(err)
	}
	d.detach()
	a.cache.clear()
}

// TestTotalsNeverGoBackwards: a down-track's figures move from the live
// subscriber to the room's ended totals when its track is removed; a
// stats snapshot taken meanwhile must count them once, not zero times.
func TestTotalsNeverGoBackwards(t *testing.T) {
	h := newHarness(Config{})
	s := &Subscriber{relay: h.relay, room: h.room, queue: newSendQueue(8, nil), done: make(chan struct{}), closed: true}
	h.room.subs[s] = struct{}{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var backwards atomic.Int64
	wg.Go(func() {
		var last uint64
		for !stop.Load() {
			if out := h.room.totals().PacketsOut; out < last {
				backwards.Add(1)
			} else {
				last = out
			}
		}
	})
	for range 2000 {
		a := h.upTrack(webrtc.MimeTypeVP8)
		d := &downTrack{sub: s, kind: webrtc.RTPCodecTypeVideo}
		d.packets.Store(10)
		s.mu.Lock()
		s.downs = append(s.downs, d)
		s.mu.Unlock()
		d.src.Store(a)
		s.trackRemoved(a)
	}
	stop.Store(true)
	wg.Wait()
	if n := backwards.Load(); n > 0 {
		t.Errorf("room totals went backwards %d times while tracks were removed", n)
	}
	if got := h.room.totals().PacketsOut; got != 20000 {
		t.Errorf("PacketsOut = %d after 2000 removed down-tracks of 10 packets, want 20000", got)
	}
	if bitrate(100, 50, time.Second) != 0 {
		t.Errorf("a total that went down gives a bitrate")
	}
}

// TestLossCountsDuplicatesOnce: packets still missing after repair. A late
// packet fills its gap; a duplicate (a retransmission that raced the
// original) must not, or it hides a packet that never came.
func TestLossCountsDuplicatesOnce(t *testing.T) {
	h := newHarness(Config{})
	a := h.upTrack(webrtc.MimeTypeVP8)
	for _, tc := range []struct {
		seq  uint16
		lost uint64
	}{
		{100, 0},
		{102, 1}, // 101 missing
		{101, 0}, // repaired
		{102, 0}, // duplicate
		{104, 1}, // 103 missing
		{104, 1}, // duplicate: 103 still missing
		{102, 1},
	} {
		a.countSeq(tc.seq)
		if got := a.lost(); got != tc.lost {
			t.Fatalf("after %d: %d lost, want %d", tc.seq, got, tc.lost)
		}
	}
	// Across the wrap, in jumps longer than the window: 100..65539
	// (65,440 numbers), 8 distinct received.
	for _, seq := range []uint16{30000, 60000, 65535, 3} {
		a.countSeq(seq)
	}
	if got := a.lost(); got != 65432 {
		t.Fatalf("after the wrap: %d lost, want 65432", got)
	}
	a.countSeq(3)     // duplicate
	a.countSeq(2)     // late, within the window: fills its gap
	a.countSeq(40000) // later than the window: cannot be told from a duplicate
	if got := a.lost(); got != 65431 {
		t.Fatalf("after a duplicate, a late and a very late packet: %d lost, want 65431", got)
	}
}

// TestCloseHooks: a hook added before the close runs once when it happens,
// in order; one added after runs at once; running again runs nothing.
func TestCloseHooks(t *testing.T) {
	var h closeHooks
	var got []string
	h.add(func() { got = append(got, "a") })
	h.add(func() { got = append(got, "b") })
	if len(got) != 0 {
		t.Fatalf("hooks ran before the close: %v", got)
	}
	h.run()
	h.add(func() { got = append(got, "late") })
	h.run()
	if want := []string{"a", "b", "late"}; !slices.Equal(got, want) {
		t.Errorf("hooks ran %v, want %v", got, want)
	}
}
