package relay

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// gopConfig turns the GOP cache on in a harness (Relay.New does by default).
func gopConfig(c Config) Config {
	if c.GOPCacheDuration == 0 {
		c.GOPCacheDuration = DefaultGOPCacheDuration
	}
	if c.GOPCacheBytes == 0 {
		c.GOPCacheBytes = DefaultGOPCacheBytes
	}
	return c
}

// TestGOPCacheInstantStart: a viewer that joins 1.5 s after the keyframe
// of a publisher that ignores keyframe requests (a keyframe every 2 s)
// decodes its first frame within 100 ms of connecting with the GOP cache,
// and waits for the publisher's next keyframe without it.
func TestGOPCacheInstantStart(t *testing.T) {
	tests := []struct {
		name     string
		gop      time.Duration
		fromGOP  bool // starts before the publisher's next keyframe
		maxFirst time.Duration
	}{
		{"cache on", 0, true, 100 * time.Millisecond},
		{"cache off", -1, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRelay(t, Config{GOPCacheDuration: tc.gop})
			pub := startPublisherOpts(t, r, "gop", "enc", nil, pubOpts{frameDur: time.Second / 15, ignorePLI: true})
			defer func() { pub.Close(); pub.sess.Close() }()
			// The first keyframe may precede the connection: join after a
			// later one, 1.5 s after it.
			deadline := time.Now().Add(10 * time.Second)
			for pub.keys.Load() < 2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if pub.keys.Load() < 2 {
				t.Fatal("the publisher sent no second keyframe")
			}
			time.Sleep(time.Until(time.Unix(0, pub.lastKey.Load()).Add(1500 * time.Millisecond)))
			keysAtJoin := pub.keys.Load()
			ts, sess := subscribeWHEP(t, r, "gop", "viewer")
			defer func() { ts.Close(); sess.Close() }()
			waitChan(t, ts.firstFrame, 10*time.Second, "the first decoded frame")
			keysAtFirst := pub.keys.Load()
			ts.mu.Lock()
			wait := ts.firstAt.Sub(ts.connAt)
			ts.mu.Unlock()
			t.Logf("connected → first decoded frame: %v (publisher keyframes %d at join, %d at the first frame)", wait, keysAtJoin, keysAtFirst)
			if fromGOP := keysAtFirst == keysAtJoin; fromGOP != tc.fromGOP {
				t.Fatalf("started before the publisher's next keyframe: %v, want %v", fromGOP, tc.fromGOP)
			}
			if tc.maxFirst > 0 && wait > tc.maxFirst {
				t.Errorf("first frame %v after connecting, want ≤ %v", wait, tc.maxFirst)
			}
			if tc.fromGOP && pub.plis.Load() == 0 {
				t.Error("no keyframe request reached the publisher: the request is kept for publishers that answer it")
			}
		})
	}
}

// TestGOPCacheContinuity: a viewer started from the GOP cache gets the
// keyframe and every packet since, then the live packets, with sequence
// numbers and timestamps that continue without a gap or a repeat — also
// when it continues a stream it had from another source (a WHEP slot
// switching publishers).
func TestGOPCacheContinuity(t *testing.T) {
	tests := []struct {
		name   string
		before bool // the viewer had packets from another source first
	}{
		{"new viewer", false},
		{"source switch", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A throttle far shorter than the GOP's age: without the
			// GOP cache, the keyframe would be too old to start from.
			h := newHarness(gopConfig(Config{PLIThrottle: 10 * time.Millisecond}))
			w := &recordWriter{keep: true}
			d := h.downTrack(w)
			if tc.before {
				old := h.upTrack(webrtc.MimeTypeVP8)
				d.attach(old)
				old.forward(vp8Packet(5000, 7000, true, true))
				old.forward(vp8Packet(5001, 7000, false, false))
				drain(d)
				d.detach()
				old.clearCaches()
			}
			sent := len(w.hdrs)
			a := h.upTrack(webrtc.MimeTypeVP8)
			d.sub.connected.Store(false)
			d.attach(a)
			a.forward(vp8Packet(99, 0, false, true)) // before the GOP: never sent
			for i := range 20 {
				a.forward(vp8Packet(uint16(100+i), uint32(i/2*3000), i == 0, i%2 == 0))
			}
			drain(d)
			time.Sleep(30 * time.Millisecond)
			connect(d)
			for i := 20; i < 25; i++ {
				a.forward(vp8Packet(uint16(100+i), uint32(i/2*3000), false, i%2 == 0))
			}
			drain(d)
			got := w.hdrs[sent:]
			if len(got) != 25 {
				t.Fatalf("sent %d packets from the new source, want 25 (the GOP's 20 and 5 live)", len(got))
			}
			for i := 1; i < len(got); i++ {
				if got[i].SequenceNumber != got[i-1].SequenceNumber+1 {
					t.Fatalf("sequence numbers %d then %d at packet %d", got[i-1].SequenceNumber, got[i].SequenceNumber, i)
				}
				if want := uint32(i/2-(i-1)/2) * 3000; got[i].Timestamp-got[i-1].Timestamp != want {
					t.Fatalf("timestamp step %d at packet %d, want %d", got[i].Timestamp-got[i-1].Timestamp, i, want)
				}
			}
			if tc.before {
				prev := w.hdrs[sent-1]
				if got[0].SequenceNumber != prev.SequenceNumber+1 || int32(got[0].Timestamp-prev.Timestamp) <= 0 {
					t.Errorf("switch: seq %d ts %d after seq %d ts %d, want the next number and a later time",
						got[0].SequenceNumber, got[0].Timestamp, prev.SequenceNumber, prev.Timestamp)
				}
			}
			d.detach()
			a.clearCaches()
		})
	}
}

// TestGOPCacheBounded: a GOP over the byte or duration bound is dropped
// whole; the cache never holds more than the bound, a viewer does not
// start from a partial GOP, and the next keyframe starts a new GOP.
func TestGOPCacheBounded(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		delay time.Duration // between packets
	}{
		{"bytes", Config{GOPCacheBytes: 10 * packetMem, PLIThrottle: time.Millisecond}, 0},
		{"duration", Config{GOPCacheDuration: 20 * time.Millisecond, PLIThrottle: time.Millisecond}, 2 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(gopConfig(tc.cfg))
			a := h.upTrack(webrtc.MimeTypeVP8)
			maxBytes := a.gop.maxBytes
			peak := 0
			for i := range 100 {
				a.forward(vp8Packet(uint16(i), uint32(i*3000), i == 0, true))
				n, mem := a.gop.size()
				peak = max(peak, n)
				if mem > maxBytes {
					t.Fatalf("holds %d bytes after packet %d, bound %d", mem, i, maxBytes)
				}
				time.Sleep(tc.delay)
			}
			if n, _ := a.gop.size(); n != 0 || a.gop.usable.Load() {
				t.Fatalf("holds %d packets of a GOP over its bound, want none", n)
			}
			if peak == 0 || peak > 10 && tc.name == "bytes" {
				t.Errorf("held at most %d packets, want 1–10", peak)
			}
			// A late viewer waits for the next keyframe (the one in the
			// packet cache is older than the PLI throttle).
			time.Sleep(5 * time.Millisecond)
			w := &recordWriter{keep: true}
			d := h.downTrack(w)
			d.attach(a)
			drain(d)
			if len(w.hdrs) != 0 {
				t.Fatalf("started from a spilled GOP: %v", seqs(w))
			}
			a.forward(vp8Packet(100, 300000, true, true))
			drain(d)
			if got := seqs(w); !slices.Equal(got, []uint16{100}) {
				t.Errorf("sent %v, want the new keyframe 100", got)
			}
			if n, _ := a.gop.size(); n != 1 {
				t.Errorf("new GOP holds %d packets, want 1", n)
			}
			d.detach()
			a.clearCaches()
		})
	}
}

// opusPacket builds an audio RTP packet.
func opusPacket(seq uint16, ts uint32) *packet { return rtpPacket(111, seq, ts, 4321, 60) }

// TestAudioStartsWithVideo: a viewer started from the GOP cache gets the
// audio from the keyframe's arrival on, not live audio ahead of the
// picture, and no audio packet twice.
func TestAudioStartsWithVideo(t *testing.T) {
	h := newHarness(gopConfig(Config{}))
	w := &recordWriter{keep: true}
	vd := h.downTrack(w)
	s := vd.sub
	aw := &recordWriter{keep: true}
	ad := &downTrack{sub: s, kind: webrtc.RTPCodecTypeAudio, ssrc: 888, pt: 111, clockRate: 48000, mime: webrtc.MimeTypeOpus, writer: aw}
	ad.bound.Store(true)
	s.downs = []*downTrack{vd, ad}
	s.connected.Store(false)

	v := h.upTrack(webrtc.MimeTypeVP8)
	au := newUpTrack(h.room, nil, TrackInfo{ID: "a", Kind: "audio"}, 4321, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}})
	vd.attach(v)
	ad.attach(au)

	au.forward(opusPacket(1, 0)) // before the keyframe
	au.forward(opusPacket(2, 960))
	time.Sleep(2 * time.Millisecond)
	v.forward(vp8Packet(10, 0, true, true))
	time.Sleep(2 * time.Millisecond)
	au.forward(opusPacket(3, 1920))
	v.forward(vp8Packet(11, 3000, false, true))
	au.forward(opusPacket(4, 2880))
	drain(vd) // not connected: passed by
	s.connected.Store(true)
	au.forward(opusPacket(5, 3840)) // queued ahead of the video's start
	vd.connected()
	au.forward(opusPacket(6, 4800))
	drain(vd)
	if got := seqs(w); !slices.Equal(got, []uint16{10, 11}) {
		t.Fatalf("video %v, want [10 11]", got)
	}
	if got := seqs(aw); !slices.Equal(got, []uint16{3, 4, 5, 6}) {
		t.Fatalf("audio %v, want [3 4 5 6]: from the keyframe's arrival on, once each", got)
	}
	vd.detach()
	ad.detach()
	v.clearCaches()
	au.cache.clear()
}

// timedWriter records when each packet was written.
type timedWriter struct {
	recordWriter
	at []time.Time
}

func (w *timedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.at = append(w.at, time.Now())
	return w.recordWriter.WriteRTP(h, payload)
}

// TestGOPCatchUpPaced: with Config.GOPCatchUpRate the catch-up's first
// frame goes at once and the rest at that multiple of real time; without,
// the whole GOP goes at once. Numbers stay continuous either way.
func TestGOPCatchUpPaced(t *testing.T) {
	const frames, frameGap = 10, 40 * time.Millisecond // a GOP 400 ms old
	tests := []struct {
		name          string
		rate          float64
		minSpan, max  time.Duration // first to last write
		firstFrameMax time.Duration // first to second write (one frame)
	}{
		{"all at once", 0, 0, 60 * time.Millisecond, 60 * time.Millisecond},
		{"paced at 4x", 4, 90 * time.Millisecond, time.Second, 60 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(gopConfig(Config{PLIThrottle: 10 * time.Millisecond, GOPCatchUpRate: tc.rate}))
			w := &timedWriter{recordWriter: recordWriter{keep: true}}
			d := h.downTrack(&w.recordWriter)
			d.writer = w
			a := h.upTrack(webrtc.MimeTypeVP8)
			d.sub.connected.Store(false)
			d.attach(a)
			for i := range frames {
				// Two packets a frame: the keyframe's both go at once.
				a.forward(vp8Packet(uint16(100+2*i), uint32(i*3600), i == 0, true))
				a.forward(vp8Packet(uint16(101+2*i), uint32(i*3600), false, false))
				time.Sleep(frameGap)
			}
			drain(d)
			connect(d)
			drain(d)
			checkContinuous(t, &w.recordWriter, 2*frames)
			if len(w.at) != 2*frames {
				return
			}
			span, first := w.at[len(w.at)-1].Sub(w.at[0]), w.at[1].Sub(w.at[0])
			if span < tc.minSpan || span > tc.max || first > tc.firstFrameMax {
				t.Errorf("catch-up of a GOP %v old took %v (want %v to %v), its first frame %v (want ≤ %v)",
					frames*frameGap, span, tc.minSpan, tc.max, first, tc.firstFrameMax)
			}
			d.detach()
			a.clearCaches()
		})
	}
}

// lockedWriter is a recordWriter written by the shared writers and read
// by the test; at notes each write's time.
type lockedWriter struct {
	mu sync.Mutex
	recordWriter
	at []time.Time
}

func (w *lockedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at = append(w.at, time.Now())
	return w.recordWriter.WriteRTP(h, payload)
}

func (w *lockedWriter) wait(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); w.count.Load() < int64(n); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d packets written, want %d", w.count.Load(), n)
		}
	}
}

// TestGOPCatchUpPacedOnWriters: on the shared writers, a paced catch-up
// runs beside them and holds only its own subscriber's queue: live packets
// that arrive meanwhile follow the catch-up in order, and another viewer
// gets them at once.
func TestGOPCatchUpPacedOnWriters(t *testing.T) {
	const frames, frameGap = 10, 40 * time.Millisecond // paced at 2x: ~180 ms
	h := newHarness(gopConfig(Config{PLIThrottle: 10 * time.Millisecond, GOPCatchUpRate: 2}))
	var wg sync.WaitGroup
	h.relay.writers = newWriters(&wg, 1) // one: a catch-up that held it would hold every viewer
	defer func() { h.relay.writers.close(); wg.Wait() }()
	viewer := func() (*downTrack, *lockedWriter) {
		w := &lockedWriter{recordWriter: recordWriter{keep: true}}
		d := h.downTrack(&w.recordWriter)
		d.writer = w
		s := d.sub
		s.stop = make(chan struct{})
		s.queue = newSendQueue(h.relay.cfg.QueueSize, func() { h.relay.writers.schedule(s) })
		return d, w
	}
	late, lw := viewer()
	live, vw := viewer()
	a := h.upTrack(webrtc.MimeTypeVP8)
	late.sub.connected.Store(false)
	late.attach(a)
	live.attach(a)
	seq := uint16(100)
	frame := func(i int) {
		a.forward(vp8Packet(seq, uint32(i*3600), i == 0, true))
		a.forward(vp8Packet(seq+1, uint32(i*3600), false, false))
		seq += 2
	}
	for i := range frames {
		frame(i)
		time.Sleep(frameGap)
	}
	vw.wait(t, 2*frames)
	connect(late) // the catch-up starts on a writer and goes on beside them
	time.Sleep(20 * time.Millisecond)
	frame(frames)
	frame(frames + 1)
	vw.wait(t, 2*frames+4)
	lw.wait(t, 2*frames+4)
	lw.mu.Lock()
	vw.mu.Lock()
	defer lw.mu.Unlock()
	defer vw.mu.Unlock()
	checkContinuous(t, &lw.recordWriter, 2*frames+4)
	checkContinuous(t, &vw.recordWriter, 2*frames+4)
	if caughtUp, liveAt := lw.at[2*frames-1], vw.at[2*frames+3]; !liveAt.Before(caughtUp) {
		t.Errorf("the live viewer got the new frames %v after the catch-up ended: the catch-up held the writers",
			liveAt.Sub(caughtUp))
	}
	close(late.sub.stop)
	late.detach()
	live.detach()
	a.clearCaches()
}
